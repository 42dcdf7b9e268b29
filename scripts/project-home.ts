/**
 * The project's home, from package.json's `repository`: the one place that names it. Every URL the
 * project ships (the mixin's runbook links, the image name and signing identity in the release
 * workflow and the docs) derives from it; tests hold them to it.
 */
import { readFileSync } from 'node:fs';

/** The GitHub repository the project lives in. */
export interface ProjectHome {
  /** The https://github.com/ URL of the repository, as package.json says it. */
  readonly url: string;
  readonly owner: string;
  readonly name: string;
}

/** Reads package.json's `repository` (a string or `{ url }`); throws unless it is an https GitHub URL. */
export function projectHome(packageJsonPath: string | URL = new URL('../package.json', import.meta.url)): ProjectHome {
  const { repository } = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { repository?: string | { url?: string } };
  const url = typeof repository === 'string' ? repository : repository?.url;
  const match = /^https:\/\/github\.com\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(url ?? '');
  if (!match?.[1] || !match[2])
    throw new Error(`package.json: repository must be an https://github.com/ repository URL (owner/name), not ${JSON.stringify(url)}`);
  return { url: match[0], owner: match[1], name: match[2] };
}
