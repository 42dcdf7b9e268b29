/**
 * gzip for /metrics without compressing the whole answer on every scrape: the part that changes
 * once per poll is deflated once (whole, or in segments deflated apart), the small part that
 * changes per scrape on its own, and they are joined into one standard gzip stream (RFC 1952)
 * that any gzip reader decodes: each piece ends on a byte boundary without a final block, none
 * refers back into another, and the trailer's CRC-32 is combined from the pieces'.
 */
import { constants, crc32, createDeflateRaw, createInflateRaw, deflateRawSync } from 'node:zlib';

/** A piece of the answer, raw-deflated so that more deflate blocks may follow it. */
export interface DeflatedPart {
  /** Deflate blocks ending on a byte boundary, none of them marked final. */
  readonly deflated: Buffer;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc: number;
  /** Length of the uncompressed bytes. */
  readonly length: number;
}

// ID1 ID2, CM = deflate, no flags, no modification time, no extra flags, OS = unknown.
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);

/** A segment as the compressor handed it over. */
export interface DeflatedChunks {
  readonly chunks: readonly Buffer[];
  readonly crc: number;
  readonly length: number;
}

/** Segments packed into one buffer (one allocation kept, not one per segment), each a view of it. */
export function joinSegments(segments: readonly DeflatedChunks[]): DeflatedPart[] {
  const packed = Buffer.concat(segments.flatMap((s) => s.chunks));
  let offset = 0;
  return segments.map(({ chunks, crc, length }) => {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const deflated = packed.subarray(offset, offset + size);
    offset += size;
    return { deflated, crc, length };
  });
}

/** Takes a part chunk by chunk: the whole part is never one buffer. */
export interface PartDeflater {
  /** Deflates a chunk; resolves once the compressor is done with it (the chunk's buffer may then be used again). */
  write(chunk: Buffer): Promise<void>;
  /**
   * Ends a segment: what was written since the last cut, deflated on its own (a full flush: nothing
   * after it refers back into it, nothing in it refers back before it), so segments can be joined
   * in any order with others'. Its deflated bytes come as zlib's chunks, to be copied (they are
   * slices of larger buffers): joinSegments packs several into one buffer.
   */
  cut(): Promise<DeflatedChunks>;
  /**
   * The deflated part, ending with a sync flush instead of a finish: an empty stored block,
   * byte-aligned and not final, so the next part's blocks can follow it directly.
   */
  end(): Promise<DeflatedPart>;
  /** Frees the compressor after cuts (end() does it itself). */
  close(): void;
}

/**
 * One deflate stream on the thread pool (the data of 50 tenants is tens of megabytes of text, too
 * much to compress on the event loop) that the chunks are written to as they are rendered; only its
 * output (about 1/20 to 1/40 of the text) and a chunk or two are held at a time. At the best
 * compression: it runs once per change, not per scrape, and every scrape sends fewer bytes for it.
 */
export function createPartDeflater(): PartDeflater {
  const stream = createDeflateRaw({ level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  let out: Buffer[] = [];
  let crc = 0;
  let length = 0;
  let failure: Error | undefined;
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  stream.on('error', (error: Error) => {
    failure = error;
  });
  const flush = async (kind: number): Promise<DeflatedChunks> => {
    if (failure) throw failure;
    await new Promise<void>((resolve) => stream.flush(kind, () => resolve()));
    if (failure) throw failure;
    const part = { chunks: out, crc, length };
    out = [];
    crc = 0;
    length = 0;
    return part;
  };
  return {
    async write(chunk) {
      if (failure) throw failure;
      crc = crc32(chunk, crc);
      length += chunk.length;
      await new Promise<void>((resolve, reject) => stream.write(chunk, (error) => (error ? reject(error) : resolve())));
    },
    cut: () => flush(constants.Z_FULL_FLUSH),
    async end() {
      try {
        const { chunks, crc: partCrc, length: partLength } = await flush(constants.Z_SYNC_FLUSH);
        return { deflated: Buffer.concat(chunks), crc: partCrc, length: partLength };
      } finally {
        stream.close();
      }
    },
    close: () => stream.close(),
  };
}

/** Raw-deflates a small constant piece on its own, as a segment (a family's HELP and TYPE lines). */
export function deflateSegment(bytes: Buffer): DeflatedPart {
  return {
    deflated: deflateRawSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, level: constants.Z_BEST_COMPRESSION }),
    crc: crc32(bytes),
    length: bytes.length,
  };
}

/**
 * The uncompressed bytes of segments, in order, through one inflater (segments are independent:
 * each can follow any other), as it produces them: about a tenth of a megabyte of deflated
 * segments at a time, so the text is never whole.
 */
export async function* inflateSegments(parts: readonly DeflatedPart[]): AsyncGenerator<Buffer, void, undefined> {
  const inflater = createInflateRaw();
  const out: Buffer[] = [];
  let failure: Error | undefined;
  inflater.on('data', (chunk: Buffer) => out.push(chunk));
  inflater.on('error', (error: Error) => {
    failure = error;
  });
  try {
    let batch = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as DeflatedPart;
      await new Promise<void>((resolve, reject) => inflater.write(part.deflated, (error) => (error ? reject(error) : resolve())));
      batch += part.deflated.length;
      if (batch < INFLATE_BATCH_BYTES && i < parts.length - 1) continue;
      batch = 0;
      await new Promise<void>((resolve) => inflater.flush(constants.Z_SYNC_FLUSH, () => resolve()));
      if (failure) throw failure;
      yield* out.splice(0);
    }
  } finally {
    inflater.close();
  }
}

/** Deflated bytes inflated at a time for a plain answer: some megabytes of text. */
const INFLATE_BATCH_BYTES = 128 * 1024;

const CRC_POLY = 0xedb88320;

/** a times b modulo the CRC-32 polynomial (zlib's multmodp). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let x = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= x;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    x = x & 1 ? (x >>> 1) ^ CRC_POLY : x >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, for k = 0..31 (zlib's x2n_table). */
const X2N: readonly number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000;
  table.push(p);
  for (let k = 1; k < 32; k++) {
    p = multModP(p, p);
    table.push(p);
  }
  return table;
})();

/**
 * The CRC-32 of two byte runs joined, from the CRC of each and the length of the second (zlib's
 * crc32_combine): the gzip trailer of an answer joined from segments deflated apart.
 */
export function crc32Combine(crc1: number, crc2: number, length2: number): number {
  // x^(8 * length2) modulo the polynomial.
  let p = 0x80000000;
  let n = length2;
  let k = 3;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31] ?? 0, p);
    n = Math.floor(n / 2);
    k++;
  }
  return (multModP(p, crc1) ^ crc2) >>> 0;
}

/** Segments joined: the CRC and length of their bytes one after the other. */
export function joinedPart(parts: readonly DeflatedPart[]): { readonly crc: number; readonly length: number } {
  let crc = 0;
  let length = 0;
  for (const part of parts) {
    crc = crc32Combine(crc, part.crc, part.length);
    length += part.length;
  }
  return { crc, length };
}

/** One gzip stream of segments followed by the last piece, as chunks to write one after the other. */
export function gzipOfSegments(parts: readonly DeflatedPart[], last: FinalPart): Buffer[] {
  const { crc, length } = joinedPart(parts);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(last.bytes, crc), 0);
  trailer.writeUInt32LE((length + last.bytes.length) % 2 ** 32, 4);
  return [HEADER, ...parts.map((p) => p.deflated), last.deflated, trailer];
}

/** The last piece of the answer: its bytes and their raw deflate, ending in the final block. */
export interface FinalPart {
  readonly bytes: Buffer;
  readonly deflated: Buffer;
}

/** Raw-deflates the last piece of an answer. */
export function deflateFinal(bytes: Buffer): FinalPart {
  return { bytes, deflated: deflateRawSync(bytes) };
}

/** A q-value as RFC 9110 (12.4.2) writes it: 0 to 1, at most three decimals. */
const QVALUE = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/;

/** Accept-Encoding asks for gzip: its q-value (or that of `*`) is above 0 and not below identity's. */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  const q: Record<string, number> = {};
  for (const item of header.split(',')) {
    const [coding = '', ...params] = item.split(';').map((s) => s.trim().toLowerCase());
    if (coding === '') continue;
    let value = 1;
    for (const param of params) {
      const name = /^q\s*=/.exec(param)?.[0];
      const qvalue = name === undefined ? undefined : param.slice(name.length).trim();
      // A malformed q-value counts as 0: when in doubt, plain text, which every scraper reads.
      if (qvalue !== undefined) value = QVALUE.test(qvalue) ? Number(qvalue) : 0;
    }
    q[coding] = value;
  }
  const gzip = q.gzip ?? q['x-gzip'] ?? q['*'] ?? 0;
  // identity is acceptable unless excluded (RFC 9110, 12.5.3); gzip wins unless identity is preferred outright.
  const identity = q.identity ?? 0;
  return gzip > 0 && gzip >= identity;
}
