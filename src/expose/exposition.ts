/**
 * The Prometheus text format (0.0.4) as prom-client's registry writes it, for the data part written
 * straight from the snapshots: HELP escaping, label value escaping, value formatting, a blank line
 * between families, and one sample per label set (a label set given twice keeps its first place
 * and its last value, a counter's values add up). test/unit/expose/exposition.test.ts holds this
 * writer to prom-client's output for any text.
 */

/** HELP text and metric names: backslash and newline escaped (prom-client's escapeString). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, newline and double quote escaped. */
export function escapeLabelValue(text: string): string {
  return escapeHelp(text).replace(/"/g, '\\"');
}

/** A sample value as prom-client writes it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return `${value}`;
}

/** `name="value",...` for the label pairs in order, or '' for none. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  let text = '';
  for (const name in labels) text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(labels[name] ?? '')}"`;
  return text;
}

/** The HELP and TYPE lines of a family, each ending in a newline. */
export function familyHeader(name: string, type: 'gauge' | 'counter', help: string): string {
  const escaped = escapeHelp(name);
  return `# HELP ${escaped} ${escapeHelp(help)}\n# TYPE ${escaped} ${type}\n`;
}

/**
 * The samples of one family for one label prefix (a tenant's labels), one line each: a label set
 * given again overwrites the value in its first place (gauge) or adds to it (counter), as
 * prom-client's metrics do. Prometheus refuses a whole scrape that holds a series twice.
 */
export class SampleLines {
  private readonly keys = new Map<string, number>();
  private readonly labels: string[] = [];
  private readonly values: number[] = [];
  private readonly name: string;
  private readonly counter: boolean;

  constructor(name: string, counter: boolean) {
    this.name = name;
    this.counter = counter;
  }

  /** Adds a sample; labels is the formatted label text (formatLabels). */
  add(labels: string, value: number): void {
    const at = this.keys.get(labels);
    if (at === undefined) {
      this.keys.set(labels, this.labels.length);
      this.labels.push(labels);
      this.values.push(value);
    } else this.values[at] = this.counter ? (this.values[at] ?? 0) + value : value;
  }

  /** The lines, each ending in a newline. */
  *lines(): Generator<string, void, undefined> {
    for (let i = 0; i < this.labels.length; i++) {
      const labels = this.labels[i] ?? '';
      yield `${this.name}${labels === '' ? '' : `{${labels}}`} ${formatValue(this.values[i] ?? 0)}\n`;
    }
  }
}

/**
 * Default size of the chunks a render is cut into, in characters: big enough for few writes. Its
 * buffer (three bytes a character and a line) stays under glibc's 128 KiB mmap threshold: a freed
 * mapping above it raises the threshold, and later buffers of that size stay in the heap for good.
 */
export const CHUNK_CHARS = 32 * 1024;

/**
 * Collects text into UTF-8 chunks of about CHUNK_CHARS characters, each written into one buffer
 * that is used again for the next: a render of tens of megabytes is never one string nor one
 * buffer, and leaves no megabytes of dead buffers behind for the garbage collector to find.
 * A chunk is valid only until the next one is taken.
 */
export class ChunkWriter {
  private pending = '';
  private readonly chunkChars: number;
  private readonly buffer: Buffer;

  constructor(chunkChars = CHUNK_CHARS) {
    this.chunkChars = chunkChars;
    // Room for a full chunk of three-byte characters and a long line after it.
    this.buffer = Buffer.allocUnsafeSlow(3 * chunkChars + 16 * 1024);
  }

  write(text: string): void {
    this.pending += text;
  }

  /** A chunk is ready to be taken. */
  full(): boolean {
    return this.pending.length >= this.chunkChars;
  }

  /** The pending text as UTF-8, or undefined when nothing is pending; valid until the next take(). */
  take(): Buffer | undefined {
    if (this.pending === '') return undefined;
    const text = this.pending;
    this.pending = '';
    // A line longer than the room left (a huge label) gets a buffer of its own.
    if (Buffer.byteLength(text) > this.buffer.length) return Buffer.from(text);
    return this.buffer.subarray(0, this.buffer.write(text));
  }
}
