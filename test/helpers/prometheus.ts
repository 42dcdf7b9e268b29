/** Runs Debian's real Prometheus on a loopback port for a test, and queries its HTTP API. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';

/** A free loopback port (bound and released, so another process can take it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RunningPrometheus {
  readonly url: string;
  readonly output: () => string;
  /** Instant query; resolves with the result vector. */
  query(expr: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus with the given YAML config on a data directory and waits until it is ready. */
export async function startPrometheus(options: { dataDir: string; config?: string; extraArgs?: string[] }): Promise<RunningPrometheus> {
  const port = await freePort();
  const configDir = mkdtempSync(join(tmpdir(), 'pss-prom-'));
  const configFile = join(configDir, 'prometheus.yml');
  writeFileSync(configFile, options.config ?? 'global: {}\n');
  let output = '';
  const child: ChildProcess = track(
    spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${options.dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=100y',
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${output}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus not ready: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    output: () => output,
    async query(expr, time) {
      const params = new URLSearchParams({ query: expr, ...(time === undefined ? {} : { time: String(time) }) });
      const body = (await (await fetch(`${url}/api/v1/query?${params}`)).json()) as {
        status: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        error?: string;
      };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
      return body.data.result;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}
