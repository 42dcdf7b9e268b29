/**
 * Every relative link and every #anchor in the repository's Markdown (README.md, docs/*.md and the
 * other top-level *.md files) resolves the way GitHub resolves it: to a file or folder that exists,
 * and to a heading of the Markdown file it names (GitHub's anchor rules). The checker itself is
 * shown a small tree with broken links first, so a green run means something.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokenLinks, githubAnchors, markdownLinks, type Tree } from '../../helpers/markdown.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const repository: Tree = {
  read: (path) => {
    const full = join(ROOT, path);
    return existsSync(full) && statSync(full).isFile() ? readFileSync(full, 'utf8') : undefined;
  },
  exists: (path) => existsSync(join(ROOT, path)),
};

const DOCS = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const FILES = [...readdirSync(ROOT).filter((f) => f.endsWith('.md')), ...DOCS].sort();

/** A tree held in memory, for showing the checker what broken looks like. */
function memoryTree(files: Record<string, string>, folders: readonly string[] = []): Tree {
  return { read: (path) => files[path], exists: (path) => path in files || folders.includes(path) };
}

describe('the link checker', () => {
  const tree = memoryTree(
    {
      'README.md': [
        '# Title',
        '## Usage',
        '## Usage',
        'Good: [a](docs/a.md) [b](docs/a.md#setting-it-up) [c](#usage-1) [d](#title) [e](deploy/) [f](https://example.com/x#y)',
        '![img](docs/pic.png) <img src="docs/pic.png" srcset="docs/pic.png 1x, docs/pic-2x.png 2x">',
        'Not links: `[x](nowhere.md)`',
        '```sh',
        '[y](nowhere.md)',
        '```',
        'Broken: [g](docs/missing.md) [h](docs/a.md#no-such-heading) [i](#nope) [j](../outside.md) [k](docs/pic.png#x) []()',
        '[ref]: docs/gone.md',
      ].join('\n'),
      'docs/a.md': '# A\n## Setting it up\nBack: [home](../README.md#usage)\n',
      'docs/pic.png': '',
      'docs/pic-2x.png': '',
    },
    ['deploy'],
  );

  it('reports each broken link with its file, line and reason, and nothing else', () => {
    expect(brokenLinks('README.md', tree)).toEqual([
      'README.md:10: docs/missing.md: no file or folder docs/missing.md',
      'README.md:10: docs/a.md#no-such-heading: docs/a.md has no heading #no-such-heading',
      'README.md:10: #nope: README.md has no heading #nope',
      'README.md:10: ../outside.md: leaves the repository',
      'README.md:10: docs/pic.png#x: a #fragment on docs/pic.png, which is no Markdown file',
      'README.md:10: (empty link): empty',
      'README.md:11: docs/gone.md: no file or folder docs/gone.md',
    ]);
    expect(brokenLinks('docs/a.md', tree)).toEqual([]);
  });

  it('reads links as GitHub renders them, code left out', () => {
    expect(markdownLinks('[`code` in text](a.md) and `[not](b.md)`\n[two\nlines](c.md)').map((l) => l.target)).toEqual(['a.md', 'c.md']);
  });

  it.each([
    ['## Prometheus, alert rules and Grafana', 'prometheus-alert-rules-and-grafana'],
    ['### 1. Register an application', '1-register-an-application'],
    ['#### `PartnerSecurityScoreLow`', 'partnersecurityscorelow'],
    ['## How it polls & what it reads', 'how-it-polls--what-it-reads'],
    ['## [Linked](x.md) heading', 'linked-heading'],
  ])('gives %s the anchor #%s', (heading, anchor) => {
    expect([...githubAnchors(`${heading}\n`)]).toEqual([anchor]);
  });

  it('numbers repeated headings and ignores fenced code', () => {
    expect([...githubAnchors('## Usage\n```sh\n# not a heading\n```\n### Usage\n')]).toEqual(['usage', 'usage-1']);
  });
});

describe('the repository Markdown', () => {
  it('has README.md and the docs/ reference to check', () => {
    expect(FILES).toContain('README.md');
    expect(DOCS.length).toBeGreaterThanOrEqual(10);
  });

  it.each(FILES)('%s: every relative link and anchor resolves', (file) => {
    expect(brokenLinks(file, repository)).toEqual([]);
  });

  it.each(FILES)('%s: every repository path in a code span names a file or folder that exists', (file) => {
    expect(missingCodePaths(repository.read(file) ?? '', repository.exists)).toEqual([]);
  });

  it('finds a code span naming a path that is gone (so an empty result above is no accident)', () => {
    const text = 'Kept in `src/main.ts`, not `src/gzip.ts`; `npm run bench` and `src/` are fine, `test/x.test.ts:12` is a place.';
    expect(missingCodePaths(text, (path) => ['src/main.ts', 'src/'].includes(path))).toEqual(['src/gzip.ts', 'test/x.test.ts']);
  });

  it('links within itself a great deal (so an empty result above is no accident)', () => {
    const relative = FILES.flatMap((f) => markdownLinks(repository.read(f) ?? '')).filter((l) => !/^[a-z]+:/i.test(l.target));
    expect(relative.length).toBeGreaterThan(50);
  });
});

/** Paths under the repository's own folders, written in code spans (`src/x.ts`, `test/unit/`), that do not exist. */
function missingCodePaths(text: string, exists: (path: string) => boolean): string[] {
  const missing: string[] = [];
  for (const span of text.match(/`[^`\n]{1,200}`/g) ?? []) {
    const path = span.slice(1, -1).split(':')[0] ?? '';
    if (!/^(src|test|scripts|deploy|docs|mixin|grafana|dashboards|bench)\/[\w./-]*$/.test(path)) continue;
    // deploy/.env is the user's own file, which the compose docs ask for (and deploy/.gitignore keeps out).
    if (path !== 'deploy/.env' && !exists(path) && !exists(path.replace(/\/$/, ''))) missing.push(path);
  }
  return missing;
}
