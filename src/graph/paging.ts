/** Paging a Graph collection: @odata.nextLink followed within a page and byte budget, one page held at a time. */
import { errorText } from '../lib/errors.js';
import type { Relation } from '../snapshot.js';
import type { GraphResponse } from './client.js';
import { GraphError } from './errors.js';
import { parseCollection } from './parse.js';

type JsonObject = Record<string, unknown>;

/** GETs one path (or an absolute nextLink) of Graph; relation names what it reads in error texts (the score when absent). */
export type Get = (path: string, relation?: Relation) => Promise<GraphResponse>;

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
 * The size of an answer as JSON. The client hands over parsed bodies; serialising one again costs
 * about what parsing it did, and it is done only for pages within the byte budget.
 */
export function jsonBytes(body: unknown): number {
  return Buffer.byteLength(JSON.stringify(body) ?? '');
}

/** Follows @odata.nextLink (an opaque URL) within the limits, handing each page's items over as it comes. */
export async function readPages(
  get: Get,
  first: string | undefined,
  typeName: string,
  limits: PageLimits,
  onPage: (items: readonly JsonObject[]) => void,
  already: { readonly pages: number; readonly bytes: number } = { pages: 0, bytes: 0 },
): Promise<Paging> {
  let { pages, bytes } = already;
  let next = first;
  while (next !== undefined) {
    if (pages >= Math.max(1, limits.maxPages)) return { pages, cut: 'pages' };
    if (bytes >= limits.maxBytes) return { pages, cut: 'bytes' };
    const response = await get(next);
    pages++;
    bytes += jsonBytes(response.body);
    let items: readonly JsonObject[];
    try {
      const page = parseCollection(response.body, typeName);
      items = page.items;
      next = page.nextLink;
    } catch (error) {
      throw new GraphError('invalid_response', `cannot read ${typeName}: ${errorText(error)}`, {
        status: response.status,
        clientRequestId: response.clientRequestId,
      });
    }
    onPage(items);
  }
  return { pages };
}
