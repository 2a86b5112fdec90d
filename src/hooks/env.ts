/**
 * The environment a hook's child process gets: netpunch's own, minus the secret. The secret authenticates
 * every packet of the session (and the server), so a tunnel program, a shell script or anything they start
 * must not be able to read it from its environment (or /proc/PID/environ, or a crash dump).
 */
const secrets = new Set<string>();

/**
 * A value that merely contains a shorter secret is not dropped: a 3-character secret would be found inside
 * PATH by chance and take it away. 8 characters rarely occur by chance and are still a weak secret.
 */
export const MIN_SECRET_SUBSTRING = 8;

/** Names whose value is a secret whatever it is. */
const SECRET_NAMES = new Set(["NETPUNCH_SECRET"]);

const carriesSecret = (name: string, value: string): boolean =>
  SECRET_NAMES.has(name) ||
  [...secrets].some((s) => value === s || (s.length >= MIN_SECRET_SUBSTRING && value.includes(s)));

/**
 * Remembers the secret so that no child gets it, and drops NETPUNCH_SECRET (and any variable carrying the
 * secret) from process.env, for code that copies process.env itself (node:child_process does). Bun.spawn
 * without an `env` copies the environment netpunch started with, whatever process.env says since, so every
 * spawn in netpunch passes `env: childEnv(...)`; hooks get the same from `ctx.env`.
 */
export function withholdSecret(secret: string | Uint8Array): void {
  // A secret file is bytes; an environment variable or argument can only carry it as text (UTF-8, which is
  // what --secret and NETPUNCH_SECRET were read as), so that is the form looked for.
  const text = typeof secret === "string" ? secret : new TextDecoder().decode(secret);
  if (text !== "") secrets.add(text);
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && carriesSecret(name, value)) delete process.env[name];
  }
}

/** netpunch's environment without the secret, with `extra` (e.g. the NETPUNCH_* result variables) on top. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !carriesSecret(name, value)) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (!carriesSecret(name, value)) env[name] = value;
  }
  return env;
}

/** True when some argument contains a withheld secret (checked before a child starts). */
export const argvCarriesSecret = (argv: string[]): boolean =>
  argv.some((a) => [...secrets].some((s) => a === s || (s.length >= MIN_SECRET_SUBSTRING && a.includes(s))));

/** For tests: forget the secrets withheld so far. */
export const forgetSecretsForTest = (): void => secrets.clear();
