/** --config.check and the web config's problems, as the command line shows them. */

import { describeCredential } from '../config/credential-hint.js';
import type { Config } from '../config/parse.js';
import { DEMO_CREDENTIAL_NAME, DEMO_TENANT_ID } from '../demo.js';
import { NAME } from '../lib/name.js';
import type { PartnerProgram } from '../snapshot.js';
import { loadWebConfig, WebConfigError } from '../web/web-config.js';

/** --config.check: what start-up would use, checked as start-up checks it; 0, or 2 with every problem. */
export function checkConfiguration(config: Config): number {
  const tenants = config.demo
    ? [`  - ${DEMO_TENANT_ID}: ${DEMO_CREDENTIAL_NAME}${partnerText(config.partner)}`]
    : config.tenants.map(
        (t) =>
          `  - ${t.tenantId ?? '(from the token)'}: ${describeCredential(t.credential)}${Object.keys(t.labels).length ? ` ${JSON.stringify(t.labels)}` : ''}${partnerText(t.partner)}`,
      );
  const count = tenants.length;
  // The web config is checked as start-up checks it: a check that passes means start-up will.
  if (config.webConfigFile !== undefined) {
    try {
      loadWebConfig(config.webConfigFile);
    } catch (error) {
      if (!(error instanceof WebConfigError)) throw error;
      process.stderr.write(invalidWebConfig(error));
      return 2;
    }
    tenants.push(`web config ${config.webConfigFile}: OK`);
  }
  process.stdout.write(`configuration OK: ${count} tenant(s)\n${tenants.join('\n')}\n`);
  return 0;
}

/** ", indirect_reseller, validation month 3" when a tenant is not a direct partner or has a month; nothing otherwise. */
function partnerText(partner: PartnerProgram): string {
  if (partner.type === 'direct' && partner.validationMonth === undefined) return '';
  return `, ${partner.type}${partner.validationMonth === undefined ? '' : `, validation month ${partner.validationMonth}`}`;
}

export function invalidWebConfig(error: WebConfigError): string {
  return `${NAME}: invalid web config:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`;
}
