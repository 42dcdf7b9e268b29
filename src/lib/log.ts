/** Structured logging to stderr in logfmt or JSON, with every line passed through a redactor. */
import { ELLIPSIS, MAX_SCANNED_CHARS, startOf } from './text.js';

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
 * echo may use), recent access tokens, bearer tokens and anything shaped like a JWT. A text longer
 * than MAX_REDACTED_INPUT_CHARS is cut to its start first (and ends with …), so redaction is linear
 * in a bounded length whatever Graph or Entra ID sent; the cut never leaves part of a secret behind.
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
/**
 * Longest text the redactor looks at; a longer one is cut to its start first. Each secret (at
 * least MIN_SECRET_CHARS) may grow into the longer REDACTED, so this much stays within
 * MAX_SCANNED_CHARS when the patterns run.
 */
export const MAX_REDACTED_INPUT_CHARS = Math.floor((MAX_SCANNED_CHARS * MIN_SECRET_CHARS) / REDACTED.length);
// A run of the characters a JWT is made of (base64url and dots): it always matches to its end,
// so scanning is linear; the JWTs inside a run are found by redactJwts in plain code.
const TOKEN_RUN = /[A-Za-z0-9_.-]+/g;
const BEARER = /(bearer\s+)[^\s"',;]+/gi;

/**
 * The run with every JWT in it redacted: "eyJ" and at least 4 more characters up to a dot, then at
 * least 4 characters (the claims), then the signature if a dot follows: a whole JWT, or the header
 * and claims of one whose signature was cut off. Left to right, as a global pattern would; each
 * part of the run is looked at a bounded number of times.
 */
export function redactJwts(run: string): string {
  if (!run.includes('eyJ')) return run;
  const parts = run.split('.');
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const at = part.indexOf('eyJ');
    const claims = parts[i + 1];
    const dot = i + 1 < parts.length ? '.' : '';
    if (at === -1 || part.length - at - 3 < 4 || claims === undefined || claims.length < 4) {
      out += part + dot;
      continue;
    }
    out += `${part.slice(0, at)}${REDACTED}`;
    // The signature (any length, even none) when a dot follows the claims.
    i += i + 2 < parts.length ? 2 : 1;
    if (i + 1 < parts.length) out += '.';
  }
  return out;
}

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
  // The longest secret form or token ever remembered: how much of a cut text's end may hold part of one.
  let longest = 0;
  const replaceAll = (text: string, value: string) => (text.includes(value) ? text.split(value).join(REDACTED) : text);
  const redact = ((text: string): string => {
    const cut = text.length > MAX_REDACTED_INPUT_CHARS;
    let out = cut ? startOf(text, MAX_REDACTED_INPUT_CHARS) : text;
    for (const secret of secrets) out = replaceAll(out, secret);
    for (const slot of slots) for (const token of slot) out = replaceAll(out, token);
    out = out.replace(TOKEN_RUN, redactJwts).replace(BEARER, `$1${REDACTED}`);
    // Cut through a secret, its start stays unrecognised at the end: drop as much as the longest
    // could leave (a JWT or bearer token cut off is still matched above).
    return cut ? `${startOf(out, Math.max(0, out.length - longest))}${ELLIPSIS}` : out;
  }) as Redactor;
  redact.add = (secret: string) => {
    if (secret.length < MIN_SECRET_CHARS) return;
    // Kept in the order a longer form is replaced before a shorter one it may contain.
    const all = [...secrets, ...secretForms(secret)];
    longest = Math.max(longest, ...all.map((form) => form.length));
    secrets.clear();
    for (const form of [...new Set(all)].sort((a, b) => b.length - a.length)) secrets.add(form);
  };
  redact.tokenSlot = () => {
    const slot: string[] = [];
    slots.push(slot);
    return (token: string) => {
      if (token.length < MIN_SECRET_CHARS || slot.includes(token)) return;
      longest = Math.max(longest, token.length);
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
  // Only the start can be shown: the redactor looks at MAX_SCANNED_CHARS of it at most.
  const visible = cutChars(redact(value), MAX_LOG_VALUE_CHARS).replace(UNSAFE_IN_LOG, (c) => `\\u${c.codePointAt(0)?.toString(16).padStart(4, '0')}`);
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
