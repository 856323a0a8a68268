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
