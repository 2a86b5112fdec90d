// The state directory: where zero-config hooks keep this host's keys and the partners' pinned keys. Only
// this user may read it (dirs 0700, files 0600), and a file is replaced atomically (a crash leaves the old
// file or the new, never half of one).
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import * as v from "valibot";
import { Fail } from "../errors.ts";

/** Directories: only this user may list or enter them. */
export const PRIVATE_DIR_MODE = 0o700;
/** Files (keys, pins): only this user may read or write them. */
export const PRIVATE_FILE_MODE = 0o600;

export { defaultStateDir } from "../sys/dirs.ts";

/** One part of a tunnel's identity: a file name that cannot climb out of its directory. */
const SEGMENT = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9._@:+-]{1,64}$/),
  v.check((s) => s !== "." && s !== ".."),
);
const TUNNEL = v.pipe(
  v.string(),
  v.transform((s) => s.split("/")),
  v.strictTuple([SEGMENT, SEGMENT]),
);

/**
 * A tunnel's two path segments, checked: "CONFIG/TUNNEL" (`up`: the config's name and the tunnel's table;
 * `connect`: "connect/SESSION"). Throws E_USAGE for anything else.
 */
export function tunnelSegments(tunnel: string): [string, string] {
  const r = v.safeParse(TUNNEL, tunnel);
  if (!r.success) throw Fail.badTunnelName(tunnel);
  return r.output;
}

/** A config's name as tunnel identities use it: "home" for home, ./home.toml or /etc/netpunch/home.toml. */
export const configName = (nameOrPath: string): string => basename(nameOrPath).replace(/\.toml$/, "");

/** The identity `up` gives a tunnel: its config's name (no folder, no .toml) and its table's name. */
export const tunnelId = (config: string, tunnel: string): string => `${config}/${tunnel}`;

/** The identity `connect` gives its one tunnel: the session, which both peers name alike. */
export const connectTunnelId = (session: string): string => tunnelId("connect", session);

/** The directory of a tunnel's own keys: STATE/keys/CONFIG/TUNNEL. */
export const keyDir = (stateDir: string, tunnel: string): string =>
  join(stateDir, "keys", ...tunnelSegments(tunnel));

/** Makes `dir` and its missing parents, each only this user's; an existing one is tightened to 0700. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (e) {
    throw Fail.stateUnusable(dir, "create the directory", e);
  }
}

/**
 * Writes `data` to `file` (mode 0600) through a temporary file renamed over it, making its directory
 * (0700) first. The temporary file is created with O_EXCL, so a file planted there is never written through.
 */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  ensurePrivateDir(dirname(file));
  const tmp = `${file}.${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: PRIVATE_FILE_MODE, flag: "wx" });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw Fail.stateUnusable(file, "write", e);
  }
}

/** The file's text, or undefined when there is none; any other failure is E_STATE. */
export function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw Fail.stateUnusable(file, "read", e);
  }
}

/** A zero-config hook's state directory and tunnel from its context; E_USAGE when the caller gave none. */
export function zeroConfigPlace(
  hook: string,
  ctx: { stateDir?: string; tunnel?: string },
): { stateDir: string; tunnel: string } {
  if (ctx.stateDir === undefined || ctx.tunnel === undefined) throw Fail.noStateDir(hook);
  return { stateDir: ctx.stateDir, tunnel: ctx.tunnel };
}

/**
 * A key file's trimmed text, or undefined when there is none (make one). A file that is there but fails
 * `valid` is E_STATE, never replaced: a new key would be refused by the partner's pin, so the user decides.
 */
export function readKeyFile(
  file: string,
  valid: (text: string) => boolean,
  what: string,
): string | undefined {
  const text = readIfThere(file)?.trim();
  if (text !== undefined && !valid(text)) throw Fail.badKeyFile(file, what);
  return text;
}
