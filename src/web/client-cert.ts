/**
 * Whether a TLS connection's client certificate is accepted by the web config in force now, not
 * only by the one of its handshake: client_auth_type, client_allowed_sans and the client CA. A
 * reload that replaces the client CA must stop a client of the old CA at its next request on an
 * open keep-alive connection, so the certificate chain the client presented is checked again
 * against the current CA's certificates (signature, issuer and validity of each link).
 */
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/** exporter-toolkit's client_auth_type values, from the least to the most demanding. */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** What decides whether a client certificate is accepted (the web config's TlsSettings has these). */
export interface ClientCertificateRules {
  readonly clientAuth: ClientAuthType;
  readonly clientAllowedSans?: readonly string[];
  /** The certificates of the client CA file. */
  readonly clientCaCertificates?: readonly X509Certificate[];
}

/** Links of a client's chain followed at most (leaf, intermediates, CA): deeper chains are refused. */
const MAX_CHAIN_DEPTH = 8;
const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/** The certificates of a PEM bundle (the web config's client CA file), in order. */
export function certificatesIn(pem: Buffer): X509Certificate[] {
  const text = pem.toString('utf8');
  const certificates: X509Certificate[] = [];
  for (let at = text.indexOf(BEGIN); at >= 0; at = text.indexOf(BEGIN, at)) {
    const end = text.indexOf(END, at);
    if (end < 0) break;
    try {
      certificates.push(new X509Certificate(text.slice(at, end + END.length)));
    } catch {
      // Not a certificate: createSecureContext reports the file as unusable.
    }
    at = end + END.length;
  }
  return certificates;
}

/** Whether the connection's client certificate satisfies `tls` as it is now. */
export function clientCertificateAccepted(socket: TLSSocket, tls: ClientCertificateRules | undefined, nowMs: number = Date.now()): boolean {
  if (!tls || tls.clientAuth === 'NoClientCert' || tls.clientAuth === 'RequestClientCert') return true;
  const cert = socket.getPeerCertificate?.(true);
  const presented = cert !== undefined && Object.keys(cert).length > 0;
  // Verified at the handshake against the CA of that time, and again against the CA of now.
  const verified = () => presented && socket.authorized && chainTrusted(cert, tls.clientCaCertificates ?? [], nowMs);
  if (tls.clientAuth === 'RequireAnyClientCert' && !presented) return false;
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && presented && !verified()) return false;
  if (tls.clientAuth === 'RequireAndVerifyClientCert' && !verified()) return false;
  if (tls.clientAllowedSans && tls.clientAllowedSans.length > 0) {
    const sans = (cert?.subjectaltname ?? '').split(/,\s*/).map((s) => s.replace(/^[^:]+:/, ''));
    return tls.clientAllowedSans.some((allowed) => sans.some((san) => equal(san, allowed)));
  }
  return true;
}

/** True when the presented chain leads from the leaf to one of the CA certificates, every link valid now. */
function chainTrusted(peer: DetailedPeerCertificate, anchors: readonly X509Certificate[], nowMs: number): boolean {
  const presented = presentedChain(peer);
  let current = presented[0];
  for (let depth = 0; current !== undefined && depth < MAX_CHAIN_DEPTH; depth++) {
    const link = current;
    if (!validAt(link, nowMs)) return false;
    if (anchors.some((anchor) => anchor.raw.equals(link.raw))) return true;
    const anchor = anchors.find((a) => issued(a, link));
    if (anchor !== undefined) return validAt(anchor, nowMs);
    current = presented.find((c) => c !== link && c.ca && issued(c, link));
  }
  return false;
}

/** The leaf and whatever issuers the client sent (or OpenSSL found), each once. */
function presentedChain(peer: DetailedPeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  for (let c: DetailedPeerCertificate | undefined = peer; c?.raw && !seen.has(c) && chain.length < MAX_CHAIN_DEPTH; c = c.issuerCertificate) {
    seen.add(c);
    try {
      chain.push(new X509Certificate(c.raw));
    } catch {
      return chain;
    }
  }
  return chain;
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function validAt(cert: X509Certificate, nowMs: number): boolean {
  return cert.validFromDate.getTime() <= nowMs && nowMs <= cert.validToDate.getTime();
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
