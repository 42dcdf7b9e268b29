/**
 * Reading configuration files (the tenants file, secret files) and checking the files the Azure
 * SDK reads later (certificates, federated tokens): regular files only, bounded, strict UTF-8, and
 * every failure a one-line reason instead of an exception.
 */
import { accessSync, closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';

/** Configuration files are small: the tenants file and every secret file are read whole, at most this many bytes. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** YAML aliases may expand at most this often (the yaml package's maxAliasCount), against "billion laughs". */
export const MAX_YAML_ALIAS_COUNT = 100;
const MAX_SHOWN = '1 MiB';

/** Reading files is the only side effect config parsing needs; tests pass their own. */
export interface ConfigIo {
  /** True when path can be opened for reading. */
  readable(path: string): boolean;
  /** The whole file as text; throws a ConfigFileError (or any error) saying why it cannot. */
  readText(path: string): string;
  /** Why path is not a readable regular file of at most MAX_CONFIG_FILE_BYTES; undefined when it is. Without it, readable decides. */
  fileProblem?(path: string): string | undefined;
  /** Something (a file, a directory, a dangling link) is at the path; checks are skipped without it. */
  exists?(path: string): boolean;
  /** A directory new files can be created in; checks are skipped without it. */
  writableDirectory?(path: string): boolean;
}

/** Reports one problem of the configuration: where (a variable, a flag, a key's place in a file) and what. */
export type ProblemSink = (where: string, what: string) => void;

/** A configuration file that cannot be used; the message is the reason, e.g. "is a directory". */
export class ConfigFileError extends Error {}

/** The disk, with the checks above: directories, FIFOs and devices are refused before they are read (a FIFO would block). */
export const diskIo: ConfigIo = {
  exists(path) {
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  },
  writableDirectory(path) {
    try {
      accessSync(path, constants.W_OK | constants.X_OK);
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  readable(path) {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  },
  readText(path) {
    let fd: number;
    try {
      // Non-blocking, so that opening a FIFO without a writer returns at once and fstat can refuse it.
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      throw new ConfigFileError(errnoReason(error));
    }
    try {
      const problem = statsProblem(fstatSync(fd));
      if (problem !== undefined) throw new ConfigFileError(problem);
      // Read one byte past the bound: a file that grew since fstat is still cut off.
      const buffer = Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1);
      let length = 0;
      for (;;) {
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
        if (length > MAX_CONFIG_FILE_BYTES) throw new ConfigFileError(`larger than ${MAX_SHOWN}`);
      }
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
      } catch {
        throw new ConfigFileError('not UTF-8 text');
      }
    } finally {
      closeSync(fd);
    }
  },
  fileProblem(path) {
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch (error) {
      return errnoReason(error);
    }
    const problem = statsProblem(stats);
    if (problem !== undefined) return problem;
    try {
      accessSync(path, constants.R_OK);
      return undefined;
    } catch (error) {
      return errnoReason(error);
    }
  },
};

/** Reads a whole configuration file: its text, or the one-line problem ('cannot read "path": reason'). */
export function readConfigText(
  io: ConfigIo,
  path: string,
  /** How the problem names the file: quoted path by default. */
  shown = `"${path}"`,
): { readonly text: string } | { readonly problem: string } {
  const cannot = (reason?: string) => ({ problem: `cannot read ${shown}${reason ? `: ${reason}` : ''}` });
  if (io.fileProblem === undefined && !io.readable(path)) return cannot();
  let text: string;
  try {
    text = io.readText(path);
  } catch (error) {
    return cannot(error instanceof ConfigFileError ? error.message : errnoReason(error));
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_FILE_BYTES) return cannot(`larger than ${MAX_SHOWN} (${bytes} bytes)`);
  return { text };
}

/** Checks a file the Azure SDK reads later (certificate, federated token): undefined or the one-line problem. */
export function checkConfigFile(io: ConfigIo, path: string): string | undefined {
  if (io.fileProblem === undefined) return io.readable(path) ? undefined : `cannot read "${path}"`;
  const reason = io.fileProblem(path);
  return reason === undefined ? undefined : `cannot read "${path}": ${reason}`;
}

function statsProblem(stats: Stats): string | undefined {
  if (stats.isDirectory()) return 'is a directory';
  if (!stats.isFile()) return 'is not a regular file (a FIFO, socket or device)';
  if (stats.size > MAX_CONFIG_FILE_BYTES) return `larger than ${MAX_SHOWN} (${stats.size} bytes)`;
  return undefined;
}

function errnoReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many symbolic links';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? 'unreadable';
  }
}
