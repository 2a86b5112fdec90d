// serve --secrets-file: the tenants of a multi-tenant server, from a TOML file, checked before any is used.
import { dirname, resolve } from "node:path";
import type { ConsolaInstance } from "consola";
import * as v from "valibot";
import { isNetpunchError } from "../errors.ts";
import { checkTenants, MAX_TENANTS, type TenantOptions } from "../rendezvous/tenants.ts";
import { CliFail } from "./hints.ts";
import { readSecretFile, SHORT_SECRET_BYTES } from "./secret.ts";

/**
 * @default 256 KiB: MAX_TENANTS tenants with inline secrets and comments take a few KiB; a mistaken path
 * (a log file, /dev/zero) fails at once instead of filling memory.
 */
export const MAX_TENANTS_FILE_BYTES = 256 * 1024;

const Cap = v.pipe(v.number(), v.integer(), v.minValue(1));
const NonEmpty = v.pipe(v.string(), v.minLength(1));

/** One `[tenants.NAME]` table: a secret (inline or a file beside this one) and optional caps. */
const TenantSchema = v.strictObject({
  secret: v.optional(NonEmpty),
  secret_file: v.optional(NonEmpty),
  max_sessions: v.optional(Cap),
  max_per_address: v.optional(Cap),
  max_relays: v.optional(Cap),
});

const TenantsFileSchema = v.strictObject({ tenants: v.record(v.string(), TenantSchema) });

/**
 * What a value in the file is, without the value: a secret written wrong (unquoted, a number, in an array)
 * is still a secret. A number where a cap is checked is no secret (a secret is a string), so it is shown.
 */
function kindOfValue(input: unknown, capChecked: boolean): string {
  if (typeof input === "number") return capChecked ? String(input) : "a number";
  if (typeof input === "string") return input === "" ? "an empty string" : "a string";
  if (Array.isArray(input)) return "an array";
  if (input instanceof Date) return "a date";
  if (typeof input === "object" && input !== null) return "a table";
  return `a ${typeof input}`;
}

/**
 * A valibot issue as one line: where (tenants.acme.max_sessions) and what was wrong there; never valibot's
 * own message, which ends with the value it received.
 */
function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = (issue.path ?? []).map((p) => String(p.key)).join(".");
  // A strict object reports a key it lacks and a key it does not know alike: the input tells them apart.
  if (issue.kind === "schema" && issue.type === "strict_object")
    return issue.input === undefined ? `no ${path} table` : `unknown key ${path}`;
  const got = kindOfValue(issue.input, issue.kind === "validation");
  return `${path || "the file"}: expected ${issue.expected ?? issue.type}, got ${got}`;
}

/**
 * Bun's TOML error without what it quotes (`Strings must be quoted: "the secret"`) or anything after its
 * first colon: the text it met there may be a secret written without quotes.
 */
export function tomlProblem(e: unknown): string {
  const text = String((e as Error)?.message ?? e).replace(/^TOML Parse error:\s*/, "");
  const head = text.split(": ")[0] ?? "";
  return head.replace(/"[^"]*"?|'[^']*'?/g, "(...)").trim() || "a syntax error";
}

/**
 * The tenants in `file`, in file order, each secret read (a `secret_file` relative to this file's
 * directory) and the list checked as serve() checks it: E_TENANTS naming the problem, never a secret.
 */
export function loadTenantsFile(file: string, logger: ConsolaInstance): TenantOptions[] {
  const bytes = readSecretFile(file, logger, MAX_TENANTS_FILE_BYTES, "tenants file");
  const bad = (why: string, hint: string) => CliFail.tenantsFile(file, why, hint);
  const example =
    'e.g. [tenants.acme] with secret_file = "acme.secret" (or secret = "..."), max_sessions = 1000';
  let parsed: unknown;
  try {
    parsed = Bun.TOML.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw bad(`not TOML (${tomlProblem(e)})`, example);
  }
  const r = v.safeParse(TenantsFileSchema, parsed);
  if (!r.success) throw bad(describeIssue(r.issues[0]), example);
  const entries = Object.entries(r.output.tenants);
  // valibot's record leaves out keys that could reach a prototype (__proto__, constructor, prototype): a
  // tenant of that name would vanish without a word, and its peers would only ever see bad-auth.
  const dropped = Object.keys((parsed as { tenants: object }).tenants).find(
    (k) => !Object.hasOwn(r.output.tenants, k),
  );
  if (dropped !== undefined)
    throw bad(
      `tenant name ${dropped} cannot be used (a name JavaScript objects reserve)`,
      "e.g. acme, team-2",
    );
  if (entries.length === 0) throw bad("it names no tenant", example);
  if (entries.length > MAX_TENANTS)
    throw bad(
      `${entries.length} tenants, more than ${MAX_TENANTS}`,
      `every forged packet costs one HMAC per tenant: run another server for tenants beyond ${MAX_TENANTS}`,
    );
  const tenants = entries.map(([name, t]): TenantOptions => {
    if ((t.secret === undefined) === (t.secret_file === undefined))
      throw bad(`tenant ${name} needs exactly one of secret and secret_file`, example);
    const secret =
      t.secret_file !== undefined
        ? readSecretFile(resolve(dirname(file), t.secret_file), logger)
        : new TextEncoder().encode(t.secret);
    if (secret.length === 0) throw bad(`tenant ${name}'s secret is empty`, "netpunch keygen makes one");
    if (secret.length < SHORT_SECRET_BYTES)
      logger.warn(
        `tenant ${name}'s secret is short (${secret.length} bytes, under ${SHORT_SECRET_BYTES}): it is stretched with scrypt, but a dictionary word still falls to an offline guess; \`netpunch keygen\` makes a 256-bit one`,
      );
    const limits = {
      ...(t.max_sessions !== undefined ? { maxSessions: t.max_sessions } : {}),
      ...(t.max_per_address !== undefined ? { maxPerAddress: t.max_per_address } : {}),
    };
    return {
      name,
      secret,
      ...(Object.keys(limits).length ? { limits } : {}),
      ...(t.max_relays !== undefined ? { maxRelays: t.max_relays } : {}),
    };
  });
  try {
    // The raw secrets stand in for the keys: equal keys come only from equal secrets, and serve() derives
    // each key once (scrypt costs a short secret about 100 ms).
    checkTenants(
      tenants,
      tenants.map((t) => t.secret as Uint8Array),
    );
  } catch (e) {
    if (isNetpunchError(e) && e.code === "E_TENANTS") throw bad(e.message, e.hint ?? example);
    throw e;
  }
  return tenants;
}
