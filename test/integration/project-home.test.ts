/**
 * One place names the project's home, package.json's `repository`: every file git tracks outside
 * test/ and CHANGELOG.md (what the project ships) names the project's repository and image only as
 * it says, and none still holds a placeholder for something the project itself has to fill in (where
 * it lives, what it pins). Placeholders the user fills in (`<registry>`, `<application-client-id>`,
 * `<version>`, ...) are instructions and stay. The file list is `git ls-files`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectHome } from '../../scripts/project-home.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Placeholders for what the project fills in itself: its home, and the digests it pins. */
const PROJECT_PLACEHOLDER = /<(?:owner|org|organi[sz]ation|user|username|repo|repository|project|github-user|digest)>/gi;

/**
 * Deliberate placeholders, by file, with the reason: each is matched exactly, so another one in the
 * same file still fails.
 */
const EXEMPT: Readonly<Record<string, { text: string; count: number; why: string }[]>> = {
  '.github/base-images.env': [
    {
      text: '@sha256:<digest>',
      count: 2,
      why: 'the base image digests are pinned by a maintainer at release time; the release workflow refuses to build while they are placeholders',
    },
  ],
  '.github/workflows/release.yml': [
    { text: 'set it to <image>:<tag>@sha256:<digest>', count: 1, why: "the release guard's error message, telling the form a pinned image takes" },
  ],
};

/** Shipped files: tracked by git, outside test/ and CHANGELOG.md, text only. */
let shipped: { file: string; text: string }[];
beforeAll(async () => {
  const { stdout } = await run('git', ['ls-files', '-z'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  shipped = stdout
    .split('\0')
    .filter((file) => file !== '' && !file.startsWith('test/') && file !== 'CHANGELOG.md')
    .map((file) => ({ file, bytes: readFileSync(join(ROOT, file)) }))
    .filter(({ bytes }) => !bytes.includes(0))
    .map(({ file, bytes }) => ({ file, text: bytes.toString('utf8') }));
});

/** What is left of a file's text once its exempt placeholders are taken out (and whether each was there as often as said). */
function withoutExempt(file: string, text: string): string {
  let rest = text;
  for (const { text: exempt, count } of EXEMPT[file] ?? []) {
    expect(rest.split(exempt).length - 1, `${file}: "${exempt}"`).toBe(count);
    rest = rest.replaceAll(exempt, '');
  }
  return rest;
}

describe("the project's home", () => {
  it('is an https GitHub repository in package.json', () => {
    expect(projectHome().url).toBe('https://github.com/partner-security-score-exporter/partner-security-score-exporter');
  });

  it('lists the tracked files (git ls-files)', () => {
    expect(shipped.map((s) => s.file)).toEqual(expect.arrayContaining(['package.json', 'README.md', 'mixin/config.libsonnet', 'deploy/prometheus/alerts.yml']));
  });

  it('leaves no placeholder for the project to fill in, in any shipped file', () => {
    const found = shipped.flatMap(({ file, text }) => [...withoutExempt(file, text).matchAll(PROJECT_PLACEHOLDER)].map((m) => `${file}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it("names the project's repository and image on GitHub only as package.json does", () => {
    const { owner, name } = projectHome();
    const named = shipped.flatMap(({ file, text }) =>
      [...text.matchAll(/\b(github\.com|ghcr\.io)\/([A-Za-z0-9_.<>-]+)\/([A-Za-z0-9_.-]+)/g)]
        .filter((m) => m[3]?.toLowerCase() === name.toLowerCase())
        .map((m) => ({ file, host: m[1], owner: m[2] ?? '' })),
    );
    // The README, the release workflow, the kustomize example and every runbook link.
    expect(new Set(named.map((n) => n.file)).size).toBeGreaterThanOrEqual(4);
    expect(named.filter((n) => n.owner.toLowerCase() !== owner.toLowerCase()).map((n) => `${n.file}: ${n.host}/${n.owner}/${name}`)).toEqual([]);
  });
});

describe('the placeholder check', () => {
  it.each([
    ['an owner', 'https://github.com/<owner>/partner-security-score-exporter', ['<owner>']],
    ['a repository', 'ghcr.io/<OWNER>/<repository>', ['<OWNER>', '<repository>']],
    ['a digest outside the exemptions', 'FROM node:24@sha256:<digest>', ['<digest>']],
    ["what the user fills in (not the project's)", 'newName: <registry>/x, tenant <partner-tenant-id>, <version>', []],
  ])('finds %s', (_what, text, expected) => {
    expect([...text.matchAll(PROJECT_PLACEHOLDER)].map((m) => m[0])).toEqual(expected);
  });

  it('still finds a placeholder beside an exempt one', () => {
    const text = 'BUILD_IMAGE=a@sha256:<digest>\nRUNTIME_IMAGE=b@sha256:<digest>\n# ghcr.io/<owner>/x\n';
    expect([...withoutExempt('.github/base-images.env', text).matchAll(PROJECT_PLACEHOLDER)].map((m) => m[0])).toEqual(['<owner>']);
  });
});
