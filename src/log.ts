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

/** Removes secrets from text: values it was told about, bearer tokens and anything shaped like a JWT. */
export interface Redactor {
  (text: string): string;
  /** Remembers one more secret value (a token, a password); keeps the most recent few. */
  add(secret: string): void;
}

const MAX_REMEMBERED = 32;
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER = /(bearer\s+)[^\s"',;]+/gi;

/** Creates a redactor that already knows the given secrets. */
export function createRedactor(initial: readonly string[] = []): Redactor {
  const secrets: string[] = [];
  const redact = ((text: string): string => {
    let out = text;
    for (const secret of secrets) out = out.split(secret).join('[REDACTED]');
    return out.replace(JWT, '[REDACTED]').replace(BEARER, '$1[REDACTED]');
  }) as Redactor;
  redact.add = (secret: string) => {
    // Very short values would redact ordinary words; no real secret or token is that short.
    if (secret.length < 6 || secrets.includes(secret)) return;
    secrets.push(secret);
    if (secrets.length > MAX_REMEMBERED) secrets.shift();
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

/** Creates a logger writing one line per call. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
      if (LOG_LEVELS.indexOf(level) < threshold) return;
      const record: Record<string, string | number | boolean> = { ts: now().toISOString(), level, msg };
      for (const [key, value] of Object.entries({ ...base, ...fields })) {
        if (value !== undefined) record[key] = value;
      }
      const line = options.format === 'json' ? JSON.stringify(record) : toLogfmt(record);
      write(`${options.redact(line)}\n`);
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

function toLogfmt(record: Record<string, string | number | boolean>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${logfmtValue(String(value))}`)
    .join(' ');
}

function logfmtValue(value: string): string {
  if (value !== '' && !/[\s"=\\\p{Cc}]/u.test(value)) return value;
  return JSON.stringify(value);
}
