/** Structured logging to stderr in logfmt or JSON, with every line passed through a redactor. */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** A logger; `with` returns one that adds fixed fields to every line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

/**
 * Removes secrets from text: configured secrets (kept for the life of the process, in the forms an
 * echo may use), recent access tokens, bearer tokens and anything shaped like a JWT.
 */
export interface Redactor {
  (text: string): string;
  /**
   * Remembers a configured secret (client secret, certificate password, a value from a secret file
   * or variable) for the life of the process: tokens never push it out.
   */
  add(secret: string): void;
  /**
   * A place for the tokens of one token source: its most recent TOKENS_PER_SOURCE tokens are
   * redacted, so memory grows with the number of tenants, not with renewals.
   */
  tokenSlot(): (token: string) => void;
}

/** How many of its most recent tokens each token source keeps redacted (the one in use and those before it). */
export const TOKENS_PER_SOURCE = 4;
/** Shorter values would redact ordinary words; no real secret or token is that short. */
export const MIN_SECRET_CHARS = 6;
const REDACTED = '[REDACTED]';
// A JWT, or the header and claims of one whose signature was cut off.
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?/g;
const BEARER = /(bearer\s+)[^\s"',;]+/gi;

/**
 * The forms a secret takes in an echo: as is, percent-encoded (MSAL sends it form-urlencoded:
 * "~" as %7E, space as +; either hex case), JSON-escaped (quotes, backslashes, or every non-ASCII
 * character as \uXXXX) and JSON-escaped twice (an escaped body quoted in a JSON log line).
 */
export function secretForms(secret: string): string[] {
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  const uri = encodeURIComponent(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const forms = [secret, form, uri, json, asciiJson, asciiJson.replace(/\\u([0-9a-f]{4})/g, (_all, hex: string) => `\\u${hex.toUpperCase()}`)];
  for (const encoded of [form, uri]) forms.push(encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  forms.push(JSON.stringify(json).slice(1, -1));
  // Longest first, so that no form is left half replaced by a shorter one it contains.
  return [...new Set(forms)].filter((f) => f.length >= MIN_SECRET_CHARS).sort((a, b) => b.length - a.length);
}

/** Creates a redactor that already knows the given configured secrets. */
export function createRedactor(initial: readonly string[] = []): Redactor {
  const secrets = new Set<string>();
  const slots: string[][] = [];
  const replaceAll = (text: string, value: string) => (text.includes(value) ? text.split(value).join(REDACTED) : text);
  const redact = ((text: string): string => {
    let out = text;
    for (const secret of secrets) out = replaceAll(out, secret);
    for (const slot of slots) for (const token of slot) out = replaceAll(out, token);
    return out.replace(JWT, REDACTED).replace(BEARER, `$1${REDACTED}`);
  }) as Redactor;
  redact.add = (secret: string) => {
    if (secret.length < MIN_SECRET_CHARS) return;
    // Kept in the order a longer form is replaced before a shorter one it may contain.
    const all = [...secrets, ...secretForms(secret)];
    secrets.clear();
    for (const form of [...new Set(all)].sort((a, b) => b.length - a.length)) secrets.add(form);
  };
  redact.tokenSlot = () => {
    const slot: string[] = [];
    slots.push(slot);
    return (token: string) => {
      if (token.length < MIN_SECRET_CHARS || slot.includes(token)) return;
      slot.unshift(token);
      slot.length = Math.min(slot.length, TOKENS_PER_SOURCE);
    };
  };
  for (const secret of initial) redact.add(secret);
  return redact;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  redact: Redactor;
  write?: (line: string) => void;
  now?: () => Date;
}

/** Longest log line, in bytes with its newline; a longer one has its longest values cut (…). */
export const MAX_LOG_LINE_BYTES = 16 * 1024;
/** Longest value of one field, in characters; a longer one is cut (…). */
export const MAX_LOG_VALUE_CHARS = 4096;

/** Creates a logger writing one line per call, each at most MAX_LOG_LINE_BYTES. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const serialize = options.format === 'json' ? (r: LogRecord) => JSON.stringify(r) : toLogfmt;
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
      if (LOG_LEVELS.indexOf(level) < threshold) return;
      const record: LogRecord = { ts: now().toISOString(), level, msg: logValue(msg, options.redact) };
      for (const [key, value] of Object.entries({ ...base, ...fields })) {
        if (value === undefined) continue;
        record[logValue(key, options.redact)] = typeof value === 'string' ? logValue(value, options.redact) : value;
      }
      write(`${options.redact(fitLine(record, serialize))}\n`);
    };
    return {
      debug: (msg, fields) => emit('debug', msg, fields),
      info: (msg, fields) => emit('info', msg, fields),
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      with: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}

type LogRecord = Record<string, string | number | boolean>;

// C1 controls, bidi and other format characters pass JSON.stringify unescaped and can rewrite
// what a terminal shows; they are written as visible escapes instead. C0 controls (newlines)
// are escaped by both formats already.
const UNSAFE_IN_LOG = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** A value redacted first (a cut must not leave half a secret), then made visible and bounded. */
function logValue(value: string, redact: Redactor): string {
  // Only the start can be shown; redacting a megabyte against every secret would only cost time.
  const start = value.length > MAX_LOG_VALUE_CHARS * 8 ? `${value.slice(0, MAX_LOG_VALUE_CHARS * 8)}…` : value;
  const visible = cutChars(redact(start), MAX_LOG_VALUE_CHARS).replace(UNSAFE_IN_LOG, (c) => `\\u${c.codePointAt(0)?.toString(16).padStart(4, '0')}`);
  return cutChars(visible, MAX_LOG_VALUE_CHARS);
}

/** At most max code points (never half of one); a longer text ends with …. */
function cutChars(text: string, max: number): string {
  if (text.length <= max) return text;
  let count = 0;
  let index = 0;
  let cutAt = 0;
  for (const c of text) {
    if (count === max - 1) cutAt = index;
    if (++count > max) return `${text.slice(0, cutAt)}…`;
    index += c.length;
  }
  return text;
}

/**
 * The serialized record, at most MAX_LOG_LINE_BYTES with its newline: the longest value is halved
 * until the line fits; a record with too many fields keeps only ts, level, msg and says so.
 */
function fitLine(record: LogRecord, serialize: (r: LogRecord) => string): string {
  const fits = (line: string) => Buffer.byteLength(line) + 1 <= MAX_LOG_LINE_BYTES;
  let line = serialize(record);
  for (let round = 0; !fits(line) && round < 200; round++) {
    let longest: string | undefined;
    for (const [key, value] of Object.entries(record)) {
      if (key !== 'ts' && key !== 'level' && typeof value === 'string' && value.length > 64 && value.length > String(record[longest ?? ''] ?? '').length)
        longest = key;
    }
    if (longest === undefined) break;
    const value = String(record[longest]);
    record[longest] = cutChars(value, Math.floor([...value].length / 2));
    line = serialize(record);
  }
  if (fits(line)) return line;
  return serialize({ ts: String(record.ts), level: String(record.level), msg: cutChars(String(record.msg), 1024), log_fields_dropped: true });
}

function toLogfmt(record: LogRecord): string {
  return Object.entries(record)
    .map(([key, value]) => `${logfmtKey(key)}=${logfmtValue(String(value))}`)
    .join(' ');
}

function logfmtKey(key: string): string {
  const clean = key.replace(/[^\w.-]/g, '_');
  return clean === '' ? '_' : clean;
}

function logfmtValue(value: string): string {
  if (value !== '' && !/[\s"=\\\p{Cc}]/u.test(value)) return value;
  return JSON.stringify(value);
}
