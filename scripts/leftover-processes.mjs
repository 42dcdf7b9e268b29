#!/usr/bin/env node
/**
 * Finds the processes a test run left behind (Linux: reads /proc). .ci/run takes a snapshot before
 * `npm test` and checks after it:
 *
 *   node scripts/leftover-processes.mjs snapshot BEFORE_FILE
 *   node scripts/leftover-processes.mjs check BEFORE_FILE [PIDS_FILE] [--root=DIR]
 *
 * A leftover is a process that was not running at the snapshot and still runs now, and either works
 * in the checkout (its working directory or its command line is inside --root, by default this
 * checkout) or was started by a test (its pid is in PIDS_FILE, where test/helpers/children.ts writes
 * "pid<TAB>command" for every child it starts). check names each leftover on stderr, kills it
 * (SIGKILL) and exits 1; with none it exits 0.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Longest command line quoted in a report. */
const MAX_SHOWN = 300;

/** pid -> "pid:start time" (the start time tells a reused pid apart), for every process now. */
function processes() {
  const found = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d{1,10}$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat === undefined) continue;
    // Fields after the command name (which may hold spaces and parentheses): state is the first, start time the 20th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    found.set(Number(name), { key: `${name}:${fields[19]}`, state: fields[0] });
  }
  return found;
}

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function commandOf(pid) {
  return (read(`/proc/${pid}/cmdline`) ?? '')
    .split('\0')
    .filter((part) => part !== '')
    .join(' ');
}

function cwdOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

/** This process and the ones that started it: never leftovers. */
function ancestors() {
  const pids = new Set();
  for (let pid = process.pid; pid > 0 && !pids.has(pid); ) {
    pids.add(pid);
    pid = Number(/^PPid:\s+(\d+)$/m.exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? 0);
  }
  return pids;
}

/** The pids the test helpers recorded, with the command each was started with. */
function recorded(file) {
  const pids = new Map();
  for (const line of (file === undefined ? '' : (read(file) ?? '')).split('\n')) {
    const [pid, command] = line.split('\t');
    if (/^\d{1,10}$/.test(pid ?? '')) pids.set(Number(pid), command ?? '');
  }
  return pids;
}

function inside(path, root) {
  return path === root || path.startsWith(root + sep);
}

function check(beforeFile, pidsFile, root) {
  const before = new Set((read(beforeFile) ?? '').split('\n').filter((line) => line !== ''));
  const spared = ancestors();
  const started = recorded(pidsFile);
  const leftovers = [];
  for (const [pid, { key, state }] of processes()) {
    if (before.has(key) || spared.has(pid) || state === 'Z') continue;
    const command = commandOf(pid);
    const cwd = cwdOf(pid);
    const byTest = started.has(pid) && command.startsWith(started.get(pid) ?? '\0');
    if (byTest || (cwd !== undefined && inside(cwd, root)) || command.includes(root)) leftovers.push({ pid, command, cwd });
  }
  for (const { pid, command, cwd } of leftovers) {
    const shown = command.length > MAX_SHOWN ? `${command.slice(0, MAX_SHOWN)}…` : command;
    process.stderr.write(`leftover process ${pid} (working in ${cwd ?? 'unknown'}): ${shown}\n`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (leftovers.length > 0) {
    process.stderr.write(`${leftovers.length} process(es) started by the tests outlived them (killed now); every test must end what it starts\n`);
    return 1;
  }
  return 0;
}

const [command, file, ...rest] = process.argv.slice(2);
const root = resolve(rest.find((a) => a.startsWith('--root='))?.slice('--root='.length) ?? ROOT);
const pidsFile = rest.find((a) => !a.startsWith('--root='));
if (command === 'snapshot' && file !== undefined) {
  writeFileSync(file, [...processes().values()].map((p) => `${p.key}\n`).join(''));
} else if (command === 'check' && file !== undefined) {
  process.exitCode = check(file, pidsFile, root);
} else {
  process.stderr.write('usage: leftover-processes.mjs snapshot FILE | check FILE [PIDS_FILE] [--root=DIR]\n');
  process.exitCode = 2;
}
