import { Range, type Etcd3, type IKeyValue } from 'etcd3';

/**
 * Keys per page. gRPC clients refuse a response over 4 MiB by default, and a
 * fleet's /services passes that at about 19,000 canonical records (the scale
 * bench's 20,000 came back as 4.4 MB and lbsync could never list them).
 * Records beacon writes are at most 4 KiB, so 500 of them stay near 2 MiB.
 */
export const LIST_PAGE_KEYS = 500;

export interface PrefixListing {
  kvs: IKeyValue[];
  /** The store revision every page was read at: watch from revision + 1. */
  revision: number;
}

/**
 * Lists every key under `prefix` in pages of `pageKeys`, all read at the
 * revision of the first page, so the result is one consistent snapshot
 * however many pages it takes. A compaction past that revision between
 * pages fails the call (etcd's "required revision has been compacted"); the
 * caller's retry lists again from the start.
 */
export async function listPrefix(client: Etcd3, prefix: string, pageKeys = LIST_PAGE_KEYS): Promise<PrefixListing> {
  const end = Range.prefix(prefix).end;
  let res = await client.getAll().prefix(prefix).limit(pageKeys).exec();
  const revision = Number(res.header.revision);
  const kvs = [...res.kvs];
  while (res.more && res.kvs.length > 0) {
    // Keys come in byte order: the next page starts just past the last key.
    const after = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    res = await client.getAll().inRange(new Range(after, end)).revision(revision).limit(pageKeys).exec();
    kvs.push(...res.kvs);
  }
  return { kvs, revision };
}
