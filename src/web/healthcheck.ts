/**
 * The container's health check: `node dist/web/healthcheck.js` exits 0 when the exporter on this host
 * answers GET /healthz with 200, and 1 (with one line on stderr) otherwise.
 *
 * It finds the exporter the way the exporter configures itself: PSS_WEB_LISTEN_ADDRESS and
 * PSS_WEB_CONFIG_FILE, overridden by the flags of the exporter's own command line (/proc/1/cmdline,
 * where the image runs it as PID 1), overridden by flags given to the health check. With a web
 * config that turns TLS on it speaks https and accepts exactly the certificate in cert_file (the
 * server's own), whatever name it carries; when the config requires client certificates it presents
 * that certificate and key. Basic auth is not answered: the health check knows only the bcrypt
 * hashes, so /healthz must be exempted with --web.healthz-without-auth, and a 401 says so.
 *
 * Standalone on purpose: Docker runs it every 30 seconds, so it loads node built-ins and the YAML
 * parser only, never the exporter's modules.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';

/** The exporter's default port (src/config/flags.ts DEFAULT_PORT; not imported, to keep this file standalone). */
const DEFAULT_PORT = 10059;
/** The whole probe, connection to status line; under the Dockerfile's HEALTHCHECK --timeout=5s. */
export const HEALTHCHECK_TIMEOUT_MS = 4000;
/** Where the image's exporter runs (PID 1), for its flags. */
const EXPORTER_CMDLINE = '/proc/1/cmdline';
/** The flags the health check reads, from the environment as PSS_<NAME>. */
const FLAG_NAMES = ['web.listen-address', 'web.config.file', 'web.healthz-without-auth'] as const;
type FlagName = (typeof FLAG_NAMES)[number];

/** What to probe and how. */
export interface HealthTarget {
  readonly host: string;
  readonly port: number;
  /** Set when the web config turns TLS on. */
  readonly tls?: {
    /** SHA-256 fingerprint of cert_file's first certificate: the only one accepted. */
    readonly fingerprint256: string;
    /** Presented when the web config requires client certificates. */
    readonly clientCert?: { cert: Buffer; key: Buffer };
  };
  readonly basicAuth: boolean;
  readonly healthzWithoutAuth: boolean;
}

/** The outcome, with the one line to print. */
export interface HealthResult {
  readonly healthy: boolean;
  readonly message: string;
}

/** The flags among FLAG_NAMES in an argument list ("--name=value", "--name value", "--[no-]flag"). */
export function flagsIn(argv: readonly string[]): Partial<Record<FlagName, string>> {
  const found: Partial<Record<FlagName, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const match = /^--(no-)?([^=]+)(?:=(.*))?$/s.exec(argv[i] ?? '');
    const name = match?.[2] as FlagName | undefined;
    if (!match || name === undefined || !FLAG_NAMES.includes(name)) continue;
    if (name === 'web.healthz-without-auth') {
      found[name] = match[1] ? 'false' : (match[3] ?? 'true');
      continue;
    }
    const value = match[3] ?? (i + 1 < argv.length ? (argv[++i] ?? '') : undefined);
    // --web.listen-address may be repeated: the exporter listens on each; the first is probed.
    if (value !== undefined && !(name === 'web.listen-address' && found[name] !== undefined)) found[name] = value;
  }
  return found;
}

/** The exporter's arguments from its /proc cmdline, if that process runs dist/main.js; else none. */
export function exporterArgs(cmdlineFile: string = EXPORTER_CMDLINE): string[] {
  let parts: string[];
  try {
    parts = readFileSync(cmdlineFile, 'utf8')
      .split('\0')
      .filter((p) => p !== '');
  } catch {
    return [];
  }
  const main = parts.findIndex((p) => /(?:^|\/)dist\/main\.js$/.test(p));
  return main < 0 ? [] : parts.slice(main + 1);
}

/** Where and how to probe: environment, then the exporter's flags, then the health check's own flags. Throws with a readable message. */
export function resolveTarget(argv: readonly string[], env: NodeJS.ProcessEnv, exporterArgv: readonly string[], cwd = process.cwd()): HealthTarget {
  const flags: Partial<Record<FlagName, string>> = {};
  for (const name of FLAG_NAMES) {
    const value = env[`PSS_${name.toUpperCase().replace(/[.-]/g, '_')}`];
    if (value !== undefined && value !== '') flags[name] = value;
  }
  Object.assign(flags, flagsIn(exporterArgv), flagsIn(argv));

  // The variable may name several addresses, one per line: the first is probed.
  const listen = (flags['web.listen-address'] ?? `:${DEFAULT_PORT}`).split('\n')[0] ?? '';
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || !(port > 0 && port <= 65535)) throw new Error(`web.listen-address "${listen}" is not host:port with a port from 1 to 65535`);
  const bound = match[1] ?? match[2] ?? '';
  // An exporter on every interface is reached on loopback; one bound to an address only there.
  const host = bound === '' || bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
  const healthzWithoutAuth = ['true', '1', 'yes'].includes((flags['web.healthz-without-auth'] ?? '').toLowerCase());

  const configFile = flags['web.config.file'];
  if (configFile === undefined || configFile === '') return { host, port, basicAuth: false, healthzWithoutAuth };
  const path = resolve(cwd, configFile);
  const config = (parse(readFileSync(path, 'utf8')) ?? {}) as {
    tls_server_config?: { cert_file?: string; key_file?: string; client_auth_type?: string };
    basic_auth_users?: Record<string, string>;
  };
  const basicAuth = Object.keys(config.basic_auth_users ?? {}).length > 0;
  const tls = config.tls_server_config;
  if (tls === undefined || tls === null) return { host, port, basicAuth, healthzWithoutAuth };
  // Paths in the web config are relative to the file, as in the exporter.
  const read = (file: string | undefined) => readFileSync(resolve(dirname(path), file ?? ''));
  const cert = read(tls.cert_file);
  const clientAuth = tls.client_auth_type ?? 'NoClientCert';
  const presentsCertificate = clientAuth === 'RequireAnyClientCert' || clientAuth === 'RequireAndVerifyClientCert';
  return {
    host,
    port,
    basicAuth,
    healthzWithoutAuth,
    tls: {
      fingerprint256: new X509Certificate(cert).fingerprint256,
      ...(presentsCertificate ? { clientCert: { cert, key: read(tls.key_file) } } : {}),
    },
  };
}

/** One GET /healthz against the target. Never throws. */
export function probe(target: HealthTarget, timeoutMs: number = HEALTHCHECK_TIMEOUT_MS): Promise<HealthResult> {
  const url = `${target.tls ? 'https' : 'http'}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/healthz`;
  return new Promise<HealthResult>((done) => {
    const finish = (healthy: boolean, message: string) => {
      clearTimeout(timer);
      req.destroy();
      done({ healthy, message });
    };
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      if (res.statusCode === 200) finish(true, `${url}: 200`);
      else if (res.statusCode === 401 && target.basicAuth && !target.healthzWithoutAuth) {
        finish(
          false,
          `${url}: 401: the web config requires basic auth; set --web.healthz-without-auth (PSS_WEB_HEALTHZ_WITHOUT_AUTH=true) so health checks can probe /healthz`,
        );
      } else finish(false, `${url}: ${res.statusCode}`);
    };
    const tls = target.tls;
    const req = tls
      ? httpsRequest(url, {
          // The certificate is checked below against cert_file instead: on loopback its name need not match.
          rejectUnauthorized: false,
          ...(tls.clientCert ?? {}),
        })
      : httpRequest(url);
    req.on('socket', (socket) => {
      if (!tls) return;
      socket.once('secureConnect', () => {
        const presented = (socket as TLSSocket).getPeerX509Certificate()?.fingerprint256;
        if (presented !== tls.fingerprint256) finish(false, `${url}: the server's certificate is not the one in the web config's cert_file`);
      });
    });
    req.on('response', onResponse);
    req.on('error', (error: NodeJS.ErrnoException) => finish(false, `${url}: ${error.code ?? error.message}`));
    const timer = setTimeout(() => finish(false, `${url}: no answer within ${timeoutMs} ms`), timeoutMs);
    req.end();
  });
}

/** The command: resolves the target, probes it once, prints a line on failure, exits 0 or 1. */
export async function main(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let target: HealthTarget;
  try {
    target = resolveTarget(argv, env, exporterArgs());
  } catch (error) {
    console.error(`healthcheck: ${(error as Error).message}`);
    return 1;
  }
  const result = await probe(target);
  if (!result.healthy) console.error(`healthcheck: ${result.message}`);
  return result.healthy ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => {
    process.exitCode = code;
  });
}
