/** https roots (the Graph endpoint, an authority host): the only URLs a token or a secret is sent to. */

/** Parses an https root without credentials, query or fragment; trailing slashes dropped. Problems never repeat a password. */
export function parseHttpsRoot(text: string, options: { readonly path: boolean } = { path: true }): { url?: string; error?: string } {
  const shown = `"${withoutUserinfo(text)}"`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `${shown} is not a URL` };
  }
  // A bearer token or a client secret must never travel in clear text.
  if (url.protocol !== 'https:') return { error: `${shown} must use https` };
  if (url.username || url.password || url.search || url.hash) return { error: `${shown} must not carry credentials, a query or a fragment` };
  if (!options.path && url.pathname !== '/') return { error: `${shown} must be an https URL without a path` };
  return { url: withoutTrailingSlashes(url.toString()) };
}

function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === '/') end--;
  return text.slice(0, end);
}

/** The text with any "user:password@" of a URL replaced, so a problem can quote it. */
function withoutUserinfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/*)[^/?#]*@/i, '$1***@');
}
