import { Range, type Etcd3, type IKeyValue, type IResponseHeader } from 'etcd3';

/**
 * Keys per page. One response for a whole fleet grows without bound (the
 * scale bench's 20,000 records came back as 4.4 MB, past gRPC's default
 * 4 MiB, and lbsync could never list them). Pages are large because etcd 3.4
 * walks the rest of the range on every page (it counts it), so small pages
 * cost O(N²): 20,000 records took ~2.5 s in pages of 500 and ~0.7 s in pages
 * of 2,000 on a busy 2-core machine. 5,000 typical records (~220 bytes) are
 * ~1.1 MB; 5,000 of beacon's largest (4 KiB) ~21 MB, which createEtcdClient's
 * receive limit allows.
 */
export const LIST_PAGE_KEYS = 5000;

export interface PrefixListing {
  kvs: IKeyValue[];
  /** The store revision every page was read at: watch from revision + 1. */
  revision: number;
  /** The first page's response header (cluster id, member, revision). */
  header: IResponseHeader;
}

/**
 * Lists every key under `prefix` in pages, all read at the revision of the
 * first page, so the result is one consistent snapshot however many pages
 * it takes. A compaction past that revision between pages fails the call
 * (etcd's "required revision has been compacted"); the caller's retry lists
 * again from the start.
 */
export async function listPrefix(client: Etcd3, prefix: string, pageKeys = LIST_PAGE_KEYS): Promise<PrefixListing> {
  const end = Range.prefix(prefix).end;
  let start = Buffer.from(prefix);
  let first: IResponseHeader | undefined;
  const kvs: IKeyValue[] = [];
  for (;;) {
    const query = client.getAll().inRange(new Range(start, end)).limit(pageKeys);
    if (first) query.revision(first.revision);
    const res = await query.exec();
    first ??= res.header;
    kvs.push(...res.kvs);
    if (!res.more || res.kvs.length === 0) return { kvs, revision: Number(first.revision), header: first };
    // Keys come in byte order: the next page starts just past the last key.
    start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
}
