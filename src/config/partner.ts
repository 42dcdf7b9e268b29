/**
 * The partner program settings of a tenant: its partner type (which requirements are mandatory)
 * and its anniversary month (when Microsoft validates them). One reader for the tenants file's
 * partner_type / validation_month and the --partner.type / --partner.validation-month flags.
 */
import { PARTNER_TYPES, type PartnerProgram, type PartnerType } from '../snapshot.js';
import type { ProblemSink } from './files.js';

/**
 * The partner type and validation month from their raw values (undefined: not given), or undefined
 * after a problem, each reported to problem under the name the user wrote (a key or a flag).
 */
export function parsePartnerProgram(
  raw: { readonly type: unknown; readonly validationMonth: unknown },
  names: { readonly type: string; readonly validationMonth: string },
  problem: ProblemSink,
): PartnerProgram | undefined {
  let ok = true;
  let type: PartnerType = 'direct';
  if (raw.type !== undefined && raw.type !== null && raw.type !== '') {
    const text = typeof raw.type === 'string' ? raw.type.trim() : undefined;
    if (text !== undefined && (PARTNER_TYPES as readonly string[]).includes(text)) type = text as PartnerType;
    else {
      problem(names.type, `${shown(raw.type)} is not one of ${PARTNER_TYPES.join(', ')}`);
      ok = false;
    }
  }
  let validationMonth: number | undefined;
  if (raw.validationMonth !== undefined && raw.validationMonth !== null && raw.validationMonth !== '') {
    const text =
      typeof raw.validationMonth === 'number' ? String(raw.validationMonth) : typeof raw.validationMonth === 'string' ? raw.validationMonth.trim() : '';
    const month = /^\d{1,2}$/.test(text) ? Number(text) : Number.NaN;
    if (month >= 1 && month <= 12) validationMonth = month;
    else {
      problem(names.validationMonth, `${shown(raw.validationMonth)} is not a month from 1 to 12 (the anniversary month of the partner's onboarding)`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  return Object.freeze(validationMonth === undefined ? { type } : { type, validationMonth });
}

/** A configured value in a problem: quoted, short. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `"${text.length > 40 ? `${text.slice(0, 40)}…` : text}"`;
}
