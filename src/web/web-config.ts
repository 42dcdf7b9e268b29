/**
 * --web.config.file: the format Prometheus exporters share (exporter-toolkit): TLS, client
 * certificates, bcrypt basic auth and response headers. Strict: unknown keys are errors.
 */
import type { X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { diskIo, readConfigText } from '../config/files.js';
import { isRecord, parseStrictYaml, problemsIn, unknownKeys } from '../config/yaml.js';
import { cost, MAX_BCRYPT_COST, MIN_BCRYPT_COST } from './basic-auth.js';
import { CLIENT_AUTH_TYPES, type ClientAuthType, certificatesIn } from './client-cert.js';

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
type TlsVersionName = keyof typeof TLS_VERSIONS;
// The response headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS = ['Content-Security-Policy', 'X-Frame-Options', 'X-Content-Type-Options', 'X-XSS-Protection', 'Strict-Transport-Security'];
const BCRYPT_HASH = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** The TLS part, with file contents already read. */
export interface TlsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  /** The certificates of clientCa: open connections are checked against them again after a reload. */
  readonly clientCaCertificates?: readonly X509Certificate[];
  readonly clientAuth: ClientAuthType;
  readonly clientAllowedSans?: readonly string[];
  readonly minVersion: (typeof TLS_VERSIONS)[TlsVersionName];
  readonly maxVersion?: (typeof TLS_VERSIONS)[TlsVersionName];
  readonly ciphers?: string;
}

/** One loaded web config. */
export interface WebSettings {
  readonly tls?: TlsSettings;
  readonly headers: Readonly<Record<string, string>>;
  /** user -> bcrypt hash. */
  readonly users: Readonly<Record<string, string>>;
  /** The files this config was built from, to notice when one changes. */
  readonly files: readonly string[];
}

/** A web config that cannot be used; the message lists every problem. */
export class WebConfigError extends Error {
  override name = 'WebConfigError';
  readonly problems: readonly string[];
  /** The files the config named (missing ones too): watched after a failed reload, so it is tried again when they appear. */
  readonly files: readonly string[];
  constructor(problems: readonly string[], files: readonly string[] = []) {
    super(problems.join('; '));
    this.problems = problems;
    this.files = files;
  }
}

/** Loads and checks the web config file and the certificates it names. Throws WebConfigError. */
export function loadWebConfig(file: string): WebSettings {
  // Regular files of at most MAX_CONFIG_FILE_BYTES only: a FIFO would block the exporter for good.
  const files = [resolve(file)];
  const read = readConfigText(diskIo, file, 'it');
  if ('problem' in read) throw new WebConfigError([`${file}: ${read.problem}`], files);
  const problems: string[] = [];
  const problem = problemsIn(file, problems);
  const parsed = parseStrictYaml(read.text, file);
  if ('problems' in parsed) throw new WebConfigError(parsed.problems, files);
  const root: unknown = parsed.value ?? {};
  if (!isRecord(root)) throw new WebConfigError([`${file}: expected a mapping`], files);
  unknownKeys(root, ['tls_server_config', 'http_server_config', 'basic_auth_users'], 'top level', problem);
  // Paths in the file are relative to the file, as in exporter-toolkit.
  const base = dirname(resolve(file));
  const readPem = (where: string, path: unknown): Buffer | undefined => {
    if (typeof path !== 'string' || path === '') {
      problem(where, 'expected a file path');
      return undefined;
    }
    const full = resolve(base, path);
    // Watched even when missing: a config updated before its certificate is applied when it appears.
    files.push(full);
    // PEM is text: the same bounded reader as every configuration file.
    const pem = readConfigText(diskIo, full, `"${path}"`);
    if ('problem' in pem) {
      problem(where, pem.problem);
      return undefined;
    }
    return Buffer.from(pem.text);
  };

  let tls: TlsSettings | undefined;
  const t = root.tls_server_config;
  if (t !== undefined && t !== null) {
    if (!isRecord(t)) problem('tls_server_config', 'expected a mapping');
    else {
      unknownKeys(
        t,
        [
          'cert_file',
          'key_file',
          'cert',
          'key',
          'client_auth_type',
          'client_ca_file',
          'client_ca',
          'client_allowed_sans',
          'min_version',
          'max_version',
          'cipher_suites',
          'prefer_server_cipher_suites',
          'curve_preferences',
        ],
        'tls_server_config',
        problem,
      );
      const pem = (inlineKey: string, fileKey: string): Buffer | undefined => {
        if (typeof t[inlineKey] === 'string' && t[fileKey] !== undefined)
          problem(`tls_server_config.${inlineKey}`, `set either ${inlineKey} or ${fileKey}, not both`);
        if (typeof t[inlineKey] === 'string') return Buffer.from(t[inlineKey] as string);
        return t[fileKey] === undefined ? undefined : readPem(`tls_server_config.${fileKey}`, t[fileKey]);
      };
      const cert = pem('cert', 'cert_file');
      const key = pem('key', 'key_file');
      const clientCa = pem('client_ca', 'client_ca_file');
      if (cert === undefined && !problems.some((p) => p.includes('cert_file'))) problem('tls_server_config', 'cert_file (or cert) is required');
      if (key === undefined && !problems.some((p) => p.includes('key_file'))) problem('tls_server_config', 'key_file (or key) is required');
      const clientAuth = (t.client_auth_type ?? (clientCa ? 'RequireAndVerifyClientCert' : 'NoClientCert')) as ClientAuthType;
      if (!CLIENT_AUTH_TYPES.includes(clientAuth))
        problem('tls_server_config.client_auth_type', `"${String(clientAuth)}" is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
      if ((clientAuth === 'RequireAndVerifyClientCert' || clientAuth === 'VerifyClientCertIfGiven') && clientCa === undefined)
        problem('tls_server_config.client_ca_file', `required with client_auth_type ${clientAuth}`);
      const version = (k: string, fallback?: TlsVersionName) => {
        const v = t[k] ?? fallback;
        if (v === undefined) return undefined;
        if (typeof v !== 'string' || !(v in TLS_VERSIONS)) {
          problem(`tls_server_config.${k}`, `"${String(v)}" is not one of ${Object.keys(TLS_VERSIONS).join(', ')}`);
          return undefined;
        }
        return TLS_VERSIONS[v as TlsVersionName];
      };
      const minVersion = version('min_version', 'TLS12');
      const maxVersion = version('max_version');
      const sans = t.client_allowed_sans;
      if (sans !== undefined && !(Array.isArray(sans) && sans.every((s) => typeof s === 'string')))
        problem('tls_server_config.client_allowed_sans', 'expected a list of strings');
      // exporter-toolkit reads an empty list as "any name", a reader may take it for "no name": refused
      // at start and on reload alike (a reload from a list to [] would otherwise widen trust).
      else if (Array.isArray(sans) && sans.length === 0)
        problem(
          'tls_server_config.client_allowed_sans',
          'an empty list is ambiguous; list the allowed names, or leave the key out to accept any certificate of the client CA',
        );
      let clientCaCertificates: readonly X509Certificate[] | undefined;
      if (clientCa !== undefined) {
        clientCaCertificates = certificatesIn(clientCa);
        if (clientCaCertificates.length === 0) problem('tls_server_config.client_ca_file', 'holds no PEM certificate');
      }
      const suites = t.cipher_suites;
      if (suites !== undefined && !(Array.isArray(suites) && suites.every((s) => typeof s === 'string')))
        problem('tls_server_config.cipher_suites', 'expected a list of cipher suite names');
      if (cert && key && minVersion) {
        const settings: TlsSettings = {
          cert,
          key,
          clientAuth,
          minVersion,
          ...(clientCa ? { clientCa } : {}),
          ...(clientCaCertificates && clientCaCertificates.length > 0 ? { clientCaCertificates } : {}),
          ...(maxVersion ? { maxVersion } : {}),
          ...(Array.isArray(sans) ? { clientAllowedSans: sans as string[] } : {}),
          // exporter-toolkit takes Go's IANA names; OpenSSL takes its own; both are accepted here.
          ...(Array.isArray(suites) ? { ciphers: (suites as string[]).join(':') } : {}),
        };
        try {
          createSecureContext(secureContextOptions(settings));
          tls = settings;
        } catch (error) {
          problem('tls_server_config', `the certificate, key or settings are unusable: ${(error as Error).message}`);
        }
      }
    }
  }

  const headers: Record<string, string> = {};
  const h = root.http_server_config;
  if (h !== undefined && h !== null) {
    if (!isRecord(h)) problem('http_server_config', 'expected a mapping');
    else {
      unknownKeys(h, ['headers', 'http2'], 'http_server_config', problem);
      if (h.headers !== undefined) {
        if (!isRecord(h.headers)) problem('http_server_config.headers', 'expected a mapping');
        else
          for (const [name, value] of Object.entries(h.headers)) {
            const canonical = ALLOWED_HEADERS.find((a) => a.toLowerCase() === name.toLowerCase());
            if (!canonical) problem(`http_server_config.headers.${name}`, `not one of ${ALLOWED_HEADERS.join(', ')}`);
            else if (typeof value !== 'string' || /[\r\n]/.test(value)) problem(`http_server_config.headers.${name}`, 'expected a one-line string');
            else headers[canonical] = value;
          }
      }
    }
  }

  const users: Record<string, string> = {};
  const u = root.basic_auth_users;
  if (u !== undefined && u !== null) {
    if (!isRecord(u)) problem('basic_auth_users', 'expected a mapping of user names to bcrypt hashes');
    else
      for (const [user, hash] of Object.entries(u)) {
        // Never echo the value: a plain-text password put there by mistake must not reach a log.
        if (user === '' || user.includes(':')) problem(`basic_auth_users.${user}`, 'a user name must be non-empty and contain no ":"');
        else if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash))
          problem(`basic_auth_users.${user}`, 'is not a bcrypt hash (create one with: htpasswd -nBC 10 "" | tr -d \':\\n\')');
        else if (cost(hash) < MIN_BCRYPT_COST || cost(hash) > MAX_BCRYPT_COST)
          // One check of a hash of cost 31 would keep the bcrypt worker busy for days.
          problem(
            `basic_auth_users.${user}`,
            `bcrypt cost ${cost(hash)} is outside ${MIN_BCRYPT_COST} to ${MAX_BCRYPT_COST} (create a hash with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
          );
        else users[user] = hash;
      }
  }

  if (problems.length > 0) throw new WebConfigError(problems, files);
  return Object.freeze({ ...(tls ? { tls } : {}), headers: Object.freeze(headers), users: Object.freeze(users), files });
}

/**
 * Why a reload from `previous` to `next` must be refused; empty when it may be applied. A reload
 * never lowers protection (editors truncate a file before they write it: an empty file must not
 * switch basic auth off), and some changes need a restart because the socket was made with them.
 * Allowed: other users (fewer, but at least one: removing a user is a rotation), other client
 * CAs, certificates and other client_allowed_sans (as long as some remain), a higher min_version,
 * a higher client_auth_type once client certificates are requested at all (the server checks it on
 * every request; only asking for certificates at the handshake needs a restart).
 */
export function reloadRefusal(previous: WebSettings, next: WebSettings): string[] {
  const reasons: string[] = [];
  if (Object.keys(previous.users).length > 0 && Object.keys(next.users).length === 0)
    reasons.push('it would turn basic auth off (basic_auth_users is missing or empty)');
  const [before, after] = [previous.tls, next.tls];
  if (before && !after) reasons.push('it would turn TLS off');
  if (!before && after) reasons.push('turning TLS on needs a restart');
  if (before && after) {
    const [from, to] = [CLIENT_AUTH_TYPES.indexOf(before.clientAuth), CLIENT_AUTH_TYPES.indexOf(after.clientAuth)];
    if (to < from) reasons.push(`it would lower client_auth_type from ${before.clientAuth} to ${after.clientAuth}`);
    if (to > from && before.clientAuth === 'NoClientCert') reasons.push(`raising client_auth_type to ${after.clientAuth} needs a restart`);
    if ((before.clientAllowedSans?.length ?? 0) > 0 && (after.clientAllowedSans?.length ?? 0) === 0)
      reasons.push('it would remove client_allowed_sans (any certificate of the client CA would do)');
    const versions = Object.values(TLS_VERSIONS) as string[];
    if (versions.indexOf(after.minVersion) < versions.indexOf(before.minVersion))
      reasons.push(`it would lower min_version from ${before.minVersion} to ${after.minVersion}`);
  }
  return reasons;
}

/** Node TLS options for the settings (the parts that can change without a restart). */
export function secureContextOptions(tls: TlsSettings): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: tls.minVersion,
    ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
    ...(tls.clientCa ? { ca: tls.clientCa } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
  };
}
