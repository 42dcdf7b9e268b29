/**
 * The one credential parser: the AZURE_* environment and each tenants-file entry describe a
 * credential with the same fields, and both go through parseCredential, so every rule (ids,
 * authority, one way to authenticate, secret files) holds the same way for both.
 */
import { type ConfigIo, checkConfigFile, type ProblemSink, readConfigText } from './files.js';
import { MAX_FLAG_VALUE_CHARS, TOO_LONG } from './flags.js';
import { parseHttpsRoot } from './https-root.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN_LABEL = /^[a-z0-9-]{1,63}$/i;
/** Longest domain name (RFC 1035, with its trailing dot). */
const MAX_DOMAIN_CHARS = 254;

/**
 * A tenant GUID or a domain name (labels of up to 63 letters, digits and inner dashes; a trailing
 * dot allowed; 254 characters at most), checked in plain code: a single pattern for it needs
 * nested bounded repeats no checker can prove linear.
 */
export function isTenantId(text: string): boolean {
  if (text === '' || text.length > MAX_DOMAIN_CHARS) return false;
  if (GUID.test(text)) return true;
  const labels = (text.endsWith('.') ? text.slice(0, -1) : text).split('.');
  return labels.every((label) => DOMAIN_LABEL.test(label) && !label.startsWith('-') && !label.endsWith('-'));
}

/** An application (client) ID: Entra ID gives every app registration and managed identity a GUID. */
export const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_GUID = '00000000-0000-0000-0000-000000000000';
/** What the README, the examples and the manifests put where an ID goes: "<application id>", "<partner-tenant-id>". */
const PLACEHOLDER = /^<[^<>]{1,100}>$/;

/**
 * The problem with a client ID, or undefined. The value is quoted only when it is a placeholder:
 * anything else may be a secret set in the wrong variable, and no error message shows a secret.
 */
export function clientIdProblem(value: string): string | undefined {
  if (PLACEHOLDER.test(value)) return `"${value}" is a placeholder: put the Application (client) ID of the app registration here (a GUID)`;
  if (!CLIENT_ID.test(value) || value === NIL_GUID)
    return "not a client ID (the app registration's Application (client) ID, a GUID); the value is not shown, in case it is a secret in the wrong place";
  return undefined;
}

/**
 * The tenant id as Entra ID compares it, used for labels and for finding duplicates: GUIDs and
 * domains are case-insensitive, and a domain's trailing dot names the same domain.
 */
export function normalizeTenantId(tenantId: string): string {
  return tenantId.toLowerCase().replace(/\.$/, '');
}

/** How the exporter authenticates to Graph for one tenant: what @azure/identity needs to build the credential. */
export type CredentialConfig =
  | { readonly kind: 'clientSecret'; readonly tenantId: string; readonly clientId: string; readonly clientSecret: string; readonly authorityHost?: string }
  | {
      readonly kind: 'clientCertificate';
      readonly tenantId: string;
      readonly clientId: string;
      readonly certificatePath: string;
      readonly certificatePassword?: string;
      readonly authorityHost?: string;
    }
  | { readonly kind: 'workloadIdentity'; readonly tenantId: string; readonly clientId: string; readonly tokenFilePath: string; readonly authorityHost?: string }
  | { readonly kind: 'managedIdentity'; readonly clientId?: string; readonly tenantId?: string };

/** The values of the tenants file's `auth` key. */
export const AUTH_KINDS = ['client_secret', 'client_certificate', 'workload_identity', 'managed_identity'] as const;
type AuthKind = (typeof AUTH_KINDS)[number];

/** The fields a credential is described by, whichever way it is configured. */
export type CredentialFieldName =
  | 'tenantId'
  | 'clientId'
  | 'auth'
  | 'clientSecret'
  | 'clientSecretFile'
  | 'certificatePath'
  | 'certificatePassword'
  | 'federatedTokenFile'
  | 'authorityHost';

/** One field as configured. */
export interface CredentialField {
  /** The variable or key that sets it ("AZURE_TENANT_ID", "client_secret_env"), named in problems. */
  readonly name: string;
  /** Where it is set, as a problem starts; default: the input's place followed by name. */
  readonly where?: string;
  /** The value (for clientSecret and certificatePassword: the secret itself); undefined when not set. */
  readonly value?: string;
  /** Set when the field is given but its value could not be had (an unset variable); reported, and the field counts as given. */
  readonly problem?: string;
}

/** A neutral description of one credential, and where each field came from. */
export interface CredentialInput {
  /** Prefix of a field's place in problems: "" for the environment, "tenants.yml: tenants[2]." for the file. */
  readonly place: string;
  readonly fields: { readonly [K in CredentialFieldName]: CredentialField };
  /** Nothing named means managed identity (the Azure SDK environment's rule); otherwise it is a problem (the tenants file asks to say so). */
  readonly implicitManagedIdentity: boolean;
}

const METHOD_OF: Readonly<Partial<Record<CredentialFieldName, AuthKind>>> = {
  clientSecret: 'client_secret',
  clientSecretFile: 'client_secret',
  certificatePath: 'client_certificate',
  federatedTokenFile: 'workload_identity',
};

/** Builds the credential the fields describe; undefined when there was a problem (every one reported). */
export function parseCredential(input: CredentialInput, io: ConfigIo, report: ProblemSink): CredentialConfig | undefined {
  const { fields } = input;
  const where = (...names: CredentialFieldName[]) => {
    const own = names.every((n) => fields[n].where === undefined);
    return own ? input.place + names.map((n) => fields[n].name).join(', ') : names.map((n) => fields[n].where ?? input.place + fields[n].name).join(', ');
  };
  let ok = true;
  const problem = (names: CredentialFieldName[], what: string) => {
    report(where(...names), what);
    ok = false;
  };
  const given = (name: CredentialFieldName) => fields[name].value !== undefined || fields[name].problem !== undefined;
  for (const name of Object.keys(fields) as CredentialFieldName[]) {
    const p = fields[name].problem;
    if (p !== undefined) problem([name], p);
  }

  const tenantRaw = fields.tenantId.value;
  if (tenantRaw !== undefined && !isTenantId(tenantRaw))
    problem(
      ['tenantId'],
      `"${tenantRaw}" is not a tenant ID (a GUID or a domain)${PLACEHOLDER.test(tenantRaw) ? ': a placeholder to replace with the partner tenant' : ''}`,
    );
  const tenantId = tenantRaw === undefined ? undefined : normalizeTenantId(tenantRaw);
  const clientId = fields.clientId.value;
  const clientIdWrong = clientId === undefined ? undefined : clientIdProblem(clientId);
  if (clientIdWrong !== undefined) problem(['clientId'], clientIdWrong);
  let authorityHost: string | undefined;
  if (fields.authorityHost.value !== undefined) {
    const parsed = parseHttpsRoot(fields.authorityHost.value, { path: false });
    if (parsed.error) problem(['authorityHost'], parsed.error);
    authorityHost = parsed.url;
  }
  const authRaw = fields.auth.value;
  if (authRaw !== undefined && !isAuthKind(authRaw)) problem(['auth'], `"${authRaw}" is not one of ${AUTH_KINDS.join(', ')}`);
  const explicit = authRaw !== undefined && isAuthKind(authRaw) ? authRaw : undefined;

  if (given('clientSecret') && given('clientSecretFile')) problem(['clientSecret', 'clientSecretFile'], 'set only one of them');
  const methods = (Object.keys(METHOD_OF) as CredentialFieldName[]).filter(given);
  const kinds = [...new Set(methods.map((m) => METHOD_OF[m]))];
  // With auth named, the other ways are reported as not used with it (below).
  if (kinds.length > 1 && explicit === undefined) {
    problem(methods, 'set only one way to authenticate');
    return undefined;
  }
  // An auth that is not one of the kinds is reported above; guessing another would only add noise.
  if (authRaw !== undefined && explicit === undefined) return undefined;
  const auth = explicit ?? kinds[0] ?? (input.implicitManagedIdentity ? 'managed_identity' : undefined);
  if (auth === undefined) {
    const f = fields;
    problem(
      ['auth'],
      `say how to authenticate: ${f.clientSecretFile.name}, ${f.clientSecret.name}, ${f.certificatePath.name}, or ${f.auth.name}: workload_identity | managed_identity`,
    );
    return undefined;
  }
  const unused = methods.filter((m) => METHOD_OF[m] !== auth);
  if (unused.length > 0) problem(unused, `not used with ${fields.auth.name} ${auth}`);
  if (given('certificatePassword') && auth !== 'client_certificate') problem(['certificatePassword'], `only used with ${fields.certificatePath.name}`);
  // What the ids are required with: the field that chose the way to authenticate, or auth itself.
  const chosenBy = explicit !== undefined || methods[0] === undefined ? `${fields.auth.name} ${auth}` : fields[methods[0]].name;
  const need = (name: CredentialFieldName) => {
    if (!given(name)) problem([name], `required with ${chosenBy}`);
  };
  const checkFile = (name: CredentialFieldName) => {
    const path = fields[name].value;
    const p = path === undefined ? undefined : checkConfigFile(io, path);
    if (p !== undefined) problem([name], p);
  };
  const authority = authorityHost === undefined ? {} : { authorityHost };
  const ids = { tenantId: tenantId ?? '', clientId: clientId ?? '' };

  switch (auth) {
    case 'client_secret': {
      need('tenantId');
      need('clientId');
      let secret = fields.clientSecret.value;
      const secretFile = fields.clientSecretFile.value;
      if (secretFile !== undefined && secret === undefined) {
        const read = readConfigText(io, secretFile);
        if ('problem' in read) problem(['clientSecretFile'], read.problem);
        else {
          // Docker and Kubernetes secret files usually end in a newline that is not part of the secret.
          secret = read.text.trim();
          if (secret === '') problem(['clientSecretFile'], `"${secretFile}" is empty`);
        }
      } else if (!given('clientSecret') && !given('clientSecretFile')) {
        problem(['clientSecretFile'], `required with ${fields.auth.name} client_secret (or ${fields.clientSecret.name})`);
      }
      return ok && secret ? { kind: 'clientSecret', ...ids, clientSecret: secret, ...authority } : undefined;
    }
    case 'client_certificate': {
      need('tenantId');
      need('clientId');
      need('certificatePath');
      checkFile('certificatePath');
      const certificatePath = fields.certificatePath.value;
      const certificatePassword = fields.certificatePassword.value;
      return ok && certificatePath
        ? { kind: 'clientCertificate', ...ids, certificatePath, ...(certificatePassword ? { certificatePassword } : {}), ...authority }
        : undefined;
    }
    case 'workload_identity': {
      need('tenantId');
      need('clientId');
      if (!given('federatedTokenFile'))
        problem(['federatedTokenFile'], `required with ${fields.auth.name} workload_identity (or set AZURE_FEDERATED_TOKEN_FILE)`);
      checkFile('federatedTokenFile');
      const tokenFilePath = fields.federatedTokenFile.value;
      return ok && tokenFilePath ? { kind: 'workloadIdentity', ...ids, tokenFilePath, ...authority } : undefined;
    }
    case 'managed_identity':
      // The authority is not used: the managed identity endpoint of the host issues the token.
      return ok ? { kind: 'managedIdentity', ...(clientId ? { clientId } : {}), ...(tenantId ? { tenantId } : {}) } : undefined;
  }
}

/** The fields that say who signs in: the ids and the secret, certificate or token file; not the password or authority. */
const IDENTIFYING: readonly CredentialFieldName[] = ['tenantId', 'clientId', 'clientSecret', 'clientSecretFile', 'certificatePath', 'federatedTokenFile'];

/**
 * The identifying fields that are set, by name: the input's own (a variable of the environment, a
 * key of a tenants-file entry) and those it took from the environment (the variable's name).
 */
export function identifyingFields(input: CredentialInput): { readonly own: readonly string[]; readonly inherited: readonly string[] } {
  const set = IDENTIFYING.map((name) => input.fields[name]).filter((f) => f.value !== undefined);
  return { own: set.filter((f) => f.where === undefined).map((f) => f.name), inherited: set.flatMap((f) => (f.where === undefined ? [] : [f.where])) };
}

/** The AZURE_* variables of the Azure SDK environment as a credential input. */
export function credentialFromEnv(env: Readonly<Record<string, string | undefined>>): CredentialInput {
  // Ids and paths are trimmed; a secret is taken as it is (only an empty one counts as unset).
  const trimmed = (name: string): CredentialField => {
    if ((env[name]?.length ?? 0) > MAX_FLAG_VALUE_CHARS) return { name, problem: TOO_LONG };
    const value = env[name]?.trim();
    return value ? { name, value } : { name };
  };
  const verbatim = (name: string): CredentialField => {
    const value = env[name];
    if (value !== undefined && value.length > MAX_FLAG_VALUE_CHARS) return { name, problem: TOO_LONG };
    return value ? { name, value } : { name };
  };
  return {
    place: '',
    implicitManagedIdentity: true,
    fields: {
      tenantId: trimmed('AZURE_TENANT_ID'),
      clientId: trimmed('AZURE_CLIENT_ID'),
      auth: { name: 'auth' },
      clientSecret: verbatim('AZURE_CLIENT_SECRET'),
      clientSecretFile: trimmed('AZURE_CLIENT_SECRET_FILE'),
      certificatePath: trimmed('AZURE_CLIENT_CERTIFICATE_PATH'),
      certificatePassword: verbatim('AZURE_CLIENT_CERTIFICATE_PASSWORD'),
      federatedTokenFile: trimmed('AZURE_FEDERATED_TOKEN_FILE'),
      authorityHost: trimmed('AZURE_AUTHORITY_HOST'),
    },
  };
}

function isAuthKind(value: string): value is AuthKind {
  return (AUTH_KINDS as readonly string[]).includes(value);
}
