/**
 * Re-reading --web.config.file: the file and every file it names are checked every second by
 * content (a digest, not only size and time: a file replaced by one of the same size in the same
 * second is noticed). After a failed or refused reload the files the new config names are watched
 * too, so a config updated before its certificate (a ConfigMap before its Secret) is applied as
 * soon as the certificate appears, without a signal. A bad reload keeps the last good settings.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { MAX_CONFIG_FILE_BYTES } from '../config/files.js';
import type { Logger } from '../lib/log.js';
import { loadWebConfig, reloadRefusal, WebConfigError, type WebSettings } from './web-config.js';

/** How the web config's last (re)load went, for metrics. */
export interface WebConfigStatus {
  readonly ok: boolean;
  readonly lastSuccessMs: number;
}

export interface WebConfigWatchOptions {
  file: string;
  /** The settings loaded at start-up. */
  initial: WebSettings;
  intervalMs: number;
  logger: Logger;
  now: () => number;
  /** Puts accepted settings in force (certificates, users, open connections). */
  apply(next: WebSettings): void;
}

export interface WebConfigWatch {
  status(): WebConfigStatus;
  /** Re-reads now when a watched file changed, or whatever changed when forced (SIGHUP). */
  check(force: boolean): void;
  stop(): void;
}

/** Starts checking the files every intervalMs. */
export function watchWebConfig(options: WebConfigWatchOptions): WebConfigWatch {
  let current = options.initial;
  let status: WebConfigStatus = { ok: true, lastSuccessMs: options.now() };
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let watched: readonly string[] = current.files;
  let lastStamp = filesStamp(watched, buffer);
  const watch = (files: readonly string[]) => {
    watched = [...new Set(files)];
    lastStamp = filesStamp(watched, buffer);
  };
  const fail = (message: string, fields: Record<string, string>, files: readonly string[]) => {
    status = { ok: false, lastSuccessMs: status.lastSuccessMs };
    // The last good config's files and the new one's: whichever changes next is tried.
    watch([...current.files, ...files]);
    options.logger.error(message, { file: options.file, ...fields });
  };

  const check = (force: boolean) => {
    if (!force && filesStamp(watched, buffer) === lastStamp) return;
    let next: WebSettings;
    try {
      next = loadWebConfig(options.file);
    } catch (error) {
      const problems = error instanceof WebConfigError ? error.problems.join('; ') : String(error);
      fail('web config reload failed; keeping the last good settings', { err: problems }, error instanceof WebConfigError ? error.files : []);
      return;
    }
    const refusal = reloadRefusal(current, next);
    if (refusal.length > 0) {
      fail('web config reload refused; keeping the last good settings (only a restart may lower protection)', { reason: refusal.join('; ') }, next.files);
      return;
    }
    options.apply(next);
    current = next;
    watch(next.files);
    status = { ok: true, lastSuccessMs: options.now() };
    options.logger.info('web config reloaded', { file: options.file });
  };
  const timer = setInterval(() => check(false), options.intervalMs);
  timer.unref();
  return { status: () => status, check, stop: () => clearInterval(timer) };
}

/** A fingerprint of the files' contents (and size and time), to notice a change. */
export function filesStamp(files: readonly string[], buffer: Buffer = Buffer.allocUnsafe(64 * 1024)): string {
  return files.map((f) => `${f}:${fileStamp(f, buffer)}`).join('|');
}

function fileStamp(path: string, buffer: Buffer): string {
  let fd: number;
  try {
    // Non-blocking: a FIFO put in a certificate's place must not block the exporter.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return `unreadable ${(error as NodeJS.ErrnoException).code ?? ''}`;
  }
  try {
    const stats = fstatSync(fd);
    // The loader refuses these; their size and time are enough to notice when that changes.
    if (!stats.isFile() || stats.size > MAX_CONFIG_FILE_BYTES) return `${stats.mode}:${stats.size}:${stats.mtimeMs}`;
    const digest = createHash('sha256');
    for (let total = 0; total <= MAX_CONFIG_FILE_BYTES; ) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      digest.update(buffer.subarray(0, n));
      total += n;
    }
    return `${stats.size}:${stats.mtimeMs}:${digest.digest('base64')}`;
  } catch (error) {
    return `unreadable ${(error as NodeJS.ErrnoException).code ?? ''}`;
  } finally {
    closeSync(fd);
  }
}
