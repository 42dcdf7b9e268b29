/**
 * What GitHub makes of the repository's Markdown, as far as links go: the anchor each heading gets,
 * and the relative links (and their #fragments) a file holds, so a test can check every one resolves.
 * The input is the repository's own documentation, not outside text.
 */
import { posix } from 'node:path';

const { dirname, join, normalize } = posix;

/**
 * The anchors GitHub gives a file's headings: inline markup dropped, lower case, every character that
 * is not a letter, digit, space, hyphen or underscore removed, spaces to hyphens; repeats get -1, -2,
 * ... Headings in fenced code are not headings. Explicit `<a id="...">` / `<a name="...">` count too.
 */
export function githubAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) anchors.add(m[1] ?? '');
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const text = (heading[1] ?? '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

export interface Link {
  /** The link as written: `path`, `path#fragment` or `#fragment`. */
  target: string;
  /** 1-based line of the file it is on. */
  line: number;
}

/**
 * Every link a Markdown file holds outside fenced code and code spans: inline links and images
 * (`[text](target)`, `![alt](target)`), reference definitions (`[ref]: target`) and the `href`, `src`
 * and `srcset` attributes of inline HTML.
 */
export function markdownLinks(markdown: string): Link[] {
  // Fenced blocks and code spans become blanks of the same length, so indexes still give lines.
  let fenced = false;
  const text = markdown
    .split('\n')
    .map((line) => {
      const fence = /^\s*(```|~~~)/.test(line);
      if (fence) fenced = !fenced;
      return fence || fenced ? ' '.repeat(line.length) : line.replace(/`[^`\n]*`/g, (span) => ' '.repeat(span.length));
    })
    .join('\n');
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const links: Link[] = [];
  const add = (target: string, index: number) => links.push({ target, line: lineOf(index) });
  for (const m of text.matchAll(/\[(?:[^[\]]|\[[^[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) add(m[1] ?? '', m.index ?? 0);
  for (const m of text.matchAll(/^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s.*)?$/gm)) add(m[1] ?? '', m.index ?? 0);
  for (const m of text.matchAll(/\s(?:href|src)="([^"]*)"/g)) add(m[1] ?? '', m.index ?? 0);
  for (const m of text.matchAll(/\ssrcset="([^"]*)"/g)) {
    for (const candidate of (m[1] ?? '').split(',')) add(candidate.trim().split(/\s+/)[0] ?? '', m.index ?? 0);
  }
  return links;
}

/** How a check sees the repository: a file's text (undefined when it is no file) and whether a path exists. */
export interface Tree {
  read(path: string): string | undefined;
  exists(path: string): boolean;
}

/**
 * The relative links of one Markdown file (a path from the repository root) that do not resolve the
 * way GitHub resolves them: to a file or folder of the repository, and a #fragment to a heading of
 * the Markdown file it names (or of the file itself). Absolute URLs (`https:`, `mailto:`, `//host`)
 * are not checked. Each problem is one line: `file:line: target: what is wrong`.
 */
export function brokenLinks(file: string, tree: Tree): string[] {
  const source = tree.read(file);
  if (source === undefined) return [`${file}: no such file`];
  const problems: string[] = [];
  for (const { target, line } of markdownLinks(source)) {
    const where = `${file}:${line}: ${target === '' ? '(empty link)' : target}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
    if (target === '') {
      problems.push(`${where}: empty`);
      continue;
    }
    const hash = target.indexOf('#');
    const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const fragment = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = path === '' ? file : normalize(path.startsWith('/') ? path.slice(1) : join(dirname(file), path)).replace(/[/\\]$/, '');
    if (resolved === '..' || resolved.startsWith('../')) {
      problems.push(`${where}: leaves the repository`);
      continue;
    }
    if (!tree.exists(resolved)) {
      problems.push(`${where}: no file or folder ${resolved}`);
      continue;
    }
    if (fragment === undefined) continue;
    const markdown = resolved.endsWith('.md') ? tree.read(resolved) : undefined;
    if (markdown === undefined) problems.push(`${where}: a #fragment on ${resolved}, which is no Markdown file`);
    else if (!githubAnchors(markdown).has(fragment)) problems.push(`${where}: ${resolved} has no heading #${fragment}`);
  }
  return problems;
}
