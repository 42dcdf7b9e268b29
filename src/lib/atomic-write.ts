/** Writes a file so that readers see the old content or the whole new content, never a part. */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The file exists and replacing it was not asked for. */
export class FileExistsError extends Error {
  override name = 'FileExistsError';
}

/**
 * Writes text to a temporary file beside `path`, flushes it to disk and only then puts it in
 * place: renamed over an existing file when `replace` is set, else linked, which fails when the
 * file exists (so a file created meanwhile is not clobbered either). On any failure (a full
 * disk, a file size limit, a lost race) the temporary file is removed and `path` is untouched.
 */
export function writeFileAtomic(path: string, text: string, replace: boolean): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': never follow or reuse something already at the temporary name.
  const fd = openSync(temporary, 'wx', 0o644);
  try {
    try {
      const bytes = Buffer.from(text, 'utf8');
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (replace) renameSync(temporary, path);
    else {
      try {
        linkSync(temporary, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(`"${path}" exists; add --force to replace it`);
        throw error;
      }
    }
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // renamed into place, or never created
    }
  }
}
