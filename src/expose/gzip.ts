/**
 * gzip for /metrics without compressing the whole answer on every scrape: the part that changes
 * once per poll is deflated once, the small part that changes per scrape on its own, and the two
 * are joined into one standard gzip stream (RFC 1952) that any gzip reader decodes.
 */
import { promisify } from 'node:util';
import { constants, crc32, createDeflateRaw, deflateRaw, deflateRawSync } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

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

/**
 * Raw-deflates bytes that other parts will follow. A sync flush instead of a finish ends the output
 * with an empty stored block: byte-aligned and not final, so the next part's blocks can follow it
 * directly (each part has its own window: none refers back into another). On the thread pool: the
 * data of 50 tenants is 10 MB of text, too much to compress on the event loop. At the best
 * compression: it runs once per poll, not per scrape, and every scrape sends fewer bytes for it.
 */
export async function deflatePart(bytes: Buffer): Promise<DeflatedPart> {
  const deflated = await deflateRawAsync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  return { deflated, crc: crc32(bytes), length: bytes.length };
}

/** Takes a part chunk by chunk: the whole part is never one buffer. */
export interface PartDeflater {
  /** Deflates a chunk; resolves once the compressor is done with it (the chunk's buffer may then be used again). */
  write(chunk: Buffer): Promise<void>;
  /** The deflated part, ending with a sync flush like deflatePart's. */
  end(): Promise<DeflatedPart>;
}

/**
 * deflatePart for a part that comes in chunks: one deflate stream on the thread pool, at the same
 * level, that the chunks are written to as they are rendered. Only its output (about 1/20 to 1/40
 * of the text) and a chunk or two are held at a time.
 */
export function createPartDeflater(): PartDeflater {
  const stream = createDeflateRaw({ level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  const out: Buffer[] = [];
  let crc = 0;
  let length = 0;
  let failure: Error | undefined;
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  stream.on('error', (error: Error) => {
    failure = error;
  });
  return {
    async write(chunk) {
      if (failure) throw failure;
      crc = crc32(chunk, crc);
      length += chunk.length;
      await new Promise<void>((resolve, reject) => stream.write(chunk, (error) => (error ? reject(error) : resolve())));
    },
    async end() {
      if (failure) throw failure;
      await new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve()));
      stream.close();
      if (failure) throw failure;
      return { deflated: Buffer.concat(out), crc, length };
    },
  };
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

/**
 * One gzip stream of `part` followed by `last`, as chunks to write one after the other: no
 * buffer is copied. The trailer's CRC-32 continues from the part's over the last bytes, and its
 * size is the sum of both.
 */
export function gzipChunks(part: DeflatedPart, last: FinalPart): Buffer[] {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(last.bytes, part.crc), 0);
  // ISIZE is the length modulo 2^32 (RFC 1952).
  trailer.writeUInt32LE((part.length + last.bytes.length) % 2 ** 32, 4);
  return [HEADER, part.deflated, last.deflated, trailer];
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
