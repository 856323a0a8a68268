import type { Etcd3 } from 'etcd3';
import { decodeJson, recordId, slotOf, type ServiceRecord } from '../registry/index.js';

/** What a comparison of this node's records in etcd with the desired set found and did. */
export interface NodeReconcileResult {
  /** Records of this node that no running container backs; deleted. */
  deleted: ServiceRecord[];
  /** Desired records missing in etcd, different there, or bound to another lease: to be written again. */
  rewrite: string[];
}

export interface NodeReconcileOptions {
  client: Etcd3;
  prefix: string;
  node: string;
  /** The record ids this node wants published right now, with their records. */
  desired: ReadonlyMap<string, ServiceRecord>;
  /** Re-checked just before each delete, so a record published meanwhile is never taken. */
  stillWanted: (id: string) => boolean;
  /** This publisher's lease id (decimal), to find records still bound to a dead predecessor's lease. */
  leaseId?: string;
}

/**
 * Compares the canonical (json layout) records whose `node` is this node with
 * the desired set: deletes the stale ones at once instead of leaving them for
 * their lease to run out, and reports the desired ones etcd does not hold as
 * wanted. Each delete is a transaction on the key's mod revision, so a key
 * rewritten after the listing is never deleted by mistake.
 *
 * Only the json layout names the node in its value: flat and single records
 * cannot be told apart from other nodes' and rely on their lease's TTL.
 */
export async function reconcileNodeRecords(options: NodeReconcileOptions): Promise<NodeReconcileResult> {
  const { client, prefix, node, desired } = options;
  const res = await client.getAll().prefix(`${prefix}/`).exec();
  const result: NodeReconcileResult = { deleted: [], rewrite: [] };
  const present = new Set<string>();
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    let record: ServiceRecord;
    try {
      const slot = slotOf(prefix, key);
      if (slot.layout !== 'json') continue;
      record = decodeJson(slot, kv.value.toString());
    } catch {
      continue; // not ours to judge: discovery reports bad keys
    }
    if (record.node !== node) continue;
    const id = recordId(record);
    const want = desired.get(id);
    if (want) {
      present.add(id);
      const boundElsewhere = options.leaseId !== undefined && String(kv.lease) !== options.leaseId;
      if (kv.value.toString() !== JSON.stringify(want) || boundElsewhere) result.rewrite.push(id);
      continue;
    }
    if (options.stillWanted(id)) continue;
    const txn = await client.if(key, 'Mod', '==', kv.mod_revision).then(client.delete().key(key)).commit();
    if (txn.succeeded) result.deleted.push(record);
  }
  for (const id of desired.keys()) if (!present.has(id)) result.rewrite.push(id);
  return result;
}

export interface LeaseReconcileOptions {
  client: Etcd3;
  prefix: string;
  /** The record ids this publisher wants published right now. */
  desired: ReadonlyMap<string, ServiceRecord>;
  /** Re-checked just before each delete, so a record published meanwhile is never taken. */
  stillWanted: (id: string) => boolean;
  /** The publisher's current lease (decimal). */
  leaseId: string;
  /** Earlier leases of this process (lost, then re-granted): a revived one may still hold records. */
  earlierLeases?: Iterable<string>;
}

/** A lease reconcile's outcome, plus the earlier leases etcd no longer knows (nothing more to look for there). */
export interface LeaseReconcileResult extends NodeReconcileResult {
  expiredLeases: string[];
}

/**
 * The same comparison as reconcileNodeRecords, found through this process's
 * own leases (LeaseTimeToLive with keys) instead of a listing of the whole
 * prefix: O(this node's records), not O(every host's), which is what the
 * periodic resync of every sidekick in a fleet can afford.
 *
 * Keys are compared, not values: a key on our lease holds what our publisher
 * put (anyone else's put detaches it from our lease, and it then counts as
 * missing). A predecessor's records (a sidekick killed and restarted on the
 * node) are on a lease this process never knew: the listing at start finds them.
 */
export async function reconcileLeaseRecords(options: LeaseReconcileOptions): Promise<LeaseReconcileResult> {
  const { client, prefix, desired, leaseId } = options;
  const result: LeaseReconcileResult = { deleted: [], rewrite: [], expiredLeases: [] };
  const onCurrent = new Set<string>();
  for (const lease of new Set([leaseId, ...(options.earlierLeases ?? [])])) {
    const res = await client.leaseClient.leaseTimeToLive({ ID: lease, keys: true });
    if (Number(res.TTL) < 0) {
      if (lease !== leaseId) result.expiredLeases.push(lease);
      continue;
    }
    for (const raw of res.keys ?? []) {
      const key = raw.toString();
      let id: string;
      try {
        const slot = slotOf(prefix, key);
        if (slot.layout !== 'json') continue;
        id = recordId(slot);
      } catch {
        continue; // not under the prefix: not ours to judge
      }
      if (desired.has(id)) {
        if (lease === leaseId) onCurrent.add(id);
        continue; // on an earlier lease it is rewritten onto the current one below
      }
      if (options.stillWanted(id)) continue;
      const deleted = await deleteIfUnchanged(client, prefix, key);
      if (deleted) result.deleted.push(deleted);
    }
  }
  for (const id of desired.keys()) if (!onCurrent.has(id)) result.rewrite.push(id);
  return result;
}

/** Deletes a json record unless it was rewritten since it was read; returns what was deleted. */
async function deleteIfUnchanged(client: Etcd3, prefix: string, key: string): Promise<ServiceRecord | undefined> {
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  if (!kv) return undefined;
  const txn = await client.if(key, 'Mod', '==', kv.mod_revision).then(client.delete().key(key)).commit();
  if (!txn.succeeded) return undefined;
  try {
    return decodeJson(slotOf(prefix, key), kv.value.toString());
  } catch {
    // Ours by its lease, but no longer a valid record: deleted all the same, reported by key.
    const slot = slotOf(prefix, key);
    return { service: slot.service, instance: slot.instance, host: '', port: 0 };
  }
}
