/**
 * Which proxy from the environment a request to a URL goes through, in words for an error: the
 * rules undici's EnvHttpProxyAgent applies (src/graph/http.ts), told without any credential.
 */

type Env = Readonly<Record<string, string | undefined>>;

/** Longest proxy variable looked at; a longer one is named, not quoted. */
const MAX_PROXY_VARIABLE_CHARS = 4096;

/** The proxy a request to url goes through ("through the proxy http://proxy:3128 from HTTPS_PROXY") or why none ("directly: ..."). */
export function describeProxy(url: URL, env: Env): string {
  const proxy = proxyVariable(url.protocol, env);
  if (proxy === undefined) return url.protocol === 'https:' ? 'directly (no HTTPS_PROXY or HTTP_PROXY set)' : 'directly (no HTTP_PROXY set)';
  const noProxy = variable(env, 'no_proxy');
  if (noProxy !== undefined && bypasses(url, noProxy.value)) return `directly (${noProxy.name} names ${url.hostname})`;
  return `through the proxy ${shownProxy(proxy.value)} from ${proxy.name}`;
}

/** The variable undici takes the proxy of a protocol from: https_proxy, HTTPS_PROXY, then the HTTP proxy for https too. */
function proxyVariable(protocol: string, env: Env): { name: string; value: string } | undefined {
  const https = protocol === 'https:' ? variable(env, 'https_proxy') : undefined;
  if (https?.value) return https;
  const http = variable(env, 'http_proxy');
  return http?.value ? http : undefined;
}

/** The lower-case variable if set (even empty), else the upper-case one, as undici reads them. */
function variable(env: Env, lower: string): { name: string; value: string } | undefined {
  for (const name of [lower, lower.toUpperCase()]) {
    const value = env[name];
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

/** The proxy's scheme, host and port: never its user name or password. */
function shownProxy(value: string): string {
  if (value.length > MAX_PROXY_VARIABLE_CHARS) return 'named there (too long to show)';
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(not a URL)';
  }
}

/** NO_PROXY as undici reads it: entries split at commas and whitespace; `*`, a host, `.domain`, `*.domain`, each with an optional port. */
function bypasses(url: URL, noProxy: string): boolean {
  if (noProxy.length > MAX_PROXY_VARIABLE_CHARS) return false;
  const host = withoutTrailingDot(url.hostname.replace(/^\[|\]$/g, '').toLowerCase());
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  for (const entry of noProxy.split(/[,\s]/)) {
    if (entry === '') continue;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== 0 && entryPort !== port) continue;
    if (name === '*') return true;
    const wildcard = entry.startsWith('*');
    const domain = withoutTrailingDot((name.startsWith('*.') ? name.slice(2) : name.startsWith('.') ? name.slice(1) : name).toLowerCase());
    if ((!wildcard && host === domain) || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function splitPort(entry: string): { name: string; entryPort: number } {
  const bracketed = entry.startsWith('[') ? entry.indexOf(']') : -1;
  if (bracketed > 0) {
    const rest = entry.slice(bracketed + 1);
    return { name: entry.slice(1, bracketed), entryPort: rest.startsWith(':') ? Number(rest.slice(1)) || 0 : 0 };
  }
  const colon = entry.indexOf(':');
  // A bare IPv6 address has several colons and no port.
  if (colon === -1 || colon !== entry.lastIndexOf(':')) return { name: entry, entryPort: 0 };
  const port = entry.slice(colon + 1);
  return /^\d+$/.test(port) ? { name: entry.slice(0, colon), entryPort: Number(port) } : { name: entry, entryPort: 0 };
}

function withoutTrailingDot(name: string): string {
  return name.length > 1 && name.endsWith('.') ? name.slice(0, -1) : name;
}
