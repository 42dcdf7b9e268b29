/**
 * Paging a Graph collection: @odata.nextLink followed within a page and byte budget, each page read
 * item by item as it arrives (src/graph/collection-reader.ts): no page is ever held whole.
 */
import type { BodyReader, GraphResponse } from './client.js';
import { createCollectionReader } from './collection-reader.js';
import type { CollectionPage } from './parse.js';

type JsonObject = Record<string, unknown>;

/** GETs one path (or an absolute nextLink) of Graph; a reader takes a successful answer's text as it arrives. */
export type Get = (path: string, reader?: BodyReader) => Promise<GraphResponse>;

/** Items are handed over in batches of at most this many, as they are read. */
const BATCH_ITEMS = 32;

/** How far one relation may be paged in one poll. */
export interface PageLimits {
  readonly maxPages: number;
  /** Stop before the next page once the pages read add up to this many bytes of JSON. */
  readonly maxBytes: number;
}

/** How far a relation was paged. */
export interface Paging {
  readonly pages: number;
  /** Set when a bound stopped the paging before the last page. */
  readonly cut?: 'pages' | 'bytes';
}

/**
 * The size of a relation expanded on the score as JSON: its part of the score's answer. Pages read
 * on their own count the bytes received (GraphResponse.bytes).
 */
export function jsonBytes(body: unknown): number {
  return Buffer.byteLength(JSON.stringify(body) ?? '');
}

/** Follows @odata.nextLink (an opaque URL) within the limits, handing the items over as they are read. */
export async function readPages(
  get: Get,
  first: string | undefined,
  typeName: string,
  limits: PageLimits,
  onItems: (items: readonly JsonObject[]) => void,
  already: { readonly pages: number; readonly bytes: number } = { pages: 0, bytes: 0 },
  onPageRead?: (pages: number) => void,
): Promise<Paging> {
  let { pages, bytes } = already;
  let next = first;
  while (next !== undefined) {
    if (pages >= Math.max(1, limits.maxPages)) return { pages, cut: 'pages' };
    if (bytes >= limits.maxBytes) return { pages, cut: 'bytes' };
    let batch: JsonObject[] = [];
    const reader = createCollectionReader(typeName, (item) => {
      batch.push(item);
      if (batch.length < BATCH_ITEMS) return;
      onItems(batch);
      batch = [];
    });
    // A page that turns out broken fails the whole relation: the items already handed over are dropped with it.
    const response = await get(next, reader);
    if (batch.length > 0) onItems(batch);
    pages++;
    bytes += response.bytes;
    next = (response.body as CollectionPage).nextLink;
    onPageRead?.(pages);
  }
  return { pages };
}
