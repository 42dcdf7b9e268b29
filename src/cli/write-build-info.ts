/**
 * Run by `npm run build` after tsc: records the source revision the build was made from in
 * dist/cli/build-info.json, for --version and partner_security_build_info. The revision comes from
 * $REVISION (the image build passes it; there is no .git in the build context), else from git,
 * else "unknown".
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** A full or short git commit id, nothing else: the value ends up in a label and a log line. */
const REVISION = /^[0-9a-f]{7,64}$/;

function gitRevision(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return REVISION.test(head) ? head : undefined;
  } catch {
    return undefined;
  }
}

const fromEnv = process.env.REVISION?.trim().toLowerCase();
const revision = fromEnv !== undefined && REVISION.test(fromEnv) ? fromEnv : (gitRevision() ?? 'unknown');
writeFileSync(new URL('./build-info.json', import.meta.url), `${JSON.stringify({ revision })}\n`);
