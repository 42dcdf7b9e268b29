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
  private readonly lines: { labels: string; value: number }[] = [];
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
      this.keys.set(labels, this.lines.length);
      this.lines.push({ labels, value });
      return;
    }
    const line = this.lines[at];
    if (line !== undefined) line.value = this.counter ? line.value + value : value;
  }

  /** The lines, each ending in a newline. */
  text(): string {
    let text = '';
    for (const { labels, value } of this.lines) text += `${this.name}${labels === '' ? '' : `{${labels}}`} ${formatValue(value)}\n`;
    return text;
  }
}

/** Default size of the chunks a render is cut into: big enough for few writes, small enough to hold many. */
export const CHUNK_BYTES = 64 * 1024;

/**
 * Collects text into UTF-8 chunks of about CHUNK_BYTES, handing each over when full: a render of
 * tens of megabytes is never one string, nor one buffer.
 */
export class ChunkWriter {
  private pending = '';
  private readonly onChunk: (chunk: Buffer) => void;
  private readonly chunkBytes: number;

  constructor(onChunk: (chunk: Buffer) => void, chunkBytes = CHUNK_BYTES) {
    this.onChunk = onChunk;
    this.chunkBytes = chunkBytes;
  }

  write(text: string): void {
    this.pending += text;
    // Characters, not bytes: a chunk may come out up to three times chunkBytes for non-ASCII text.
    if (this.pending.length >= this.chunkBytes) this.flush();
  }

  /** Hands over what is pending, if anything. */
  flush(): void {
    if (this.pending === '') return;
    const chunk = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    this.onChunk(chunk);
  }
}
