import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/** An XDG base directory: the variable when it holds an absolute path (the spec says to ignore a relative one). */
export function xdgDir(env: Record<string, string | undefined>, variable: string, fallback: string): string {
  const value = env[variable];
  return value !== undefined && isAbsolute(value) ? value : fallback;
}

/** Where netpunch keeps what lasts (keys, pins) and what lives only while it runs (the status socket), as root. */
export const SYSTEM_STATE_DIR = "/var/lib/netpunch";
export const SYSTEM_RUNTIME_DIR = "/run/netpunch";

export interface UpDirs {
  stateDir: string;
  runtimeDir: string;
}

/** The first path of a systemd directory variable (a colon list when the unit names several), if set. */
function systemdDir(env: Record<string, string | undefined>, variable: string): string | undefined {
  const first = env[variable]?.split(":")[0];
  return first ? first : undefined;
}

/**
 * The state and runtime directories. systemd's $STATE_DIRECTORY and $RUNTIME_DIRECTORY win over the file:
 * the unit made those directories, owns their permissions, and under ProtectSystem=strict they are the only
 * ones netpunch may write. Then the file's state_dir and runtime_dir. Then, for root, the system directories;
 * for anyone else per-user ones, since a user cannot write /var/lib or /run: $XDG_STATE_HOME/netpunch
 * (~/.local/state) and $XDG_RUNTIME_DIR/netpunch, or, without a runtime directory (no login session: cron,
 * su), a "run" folder in the state directory, which is the user's own where /tmp would be shared. Pure.
 */
export function upDirs(o: {
  env: Record<string, string | undefined>;
  uid: number;
  home: string;
  stateDir?: string;
  runtimeDir?: string;
}): UpDirs {
  const userState = join(xdgDir(o.env, "XDG_STATE_HOME", join(o.home, ".local", "state")), "netpunch");
  const xdgRuntime = xdgDir(o.env, "XDG_RUNTIME_DIR", "");
  const userRuntime = xdgRuntime ? join(xdgRuntime, "netpunch") : join(userState, "run");
  const root = o.uid === 0;
  return {
    stateDir: systemdDir(o.env, "STATE_DIRECTORY") ?? o.stateDir ?? (root ? SYSTEM_STATE_DIR : userState),
    runtimeDir:
      systemdDir(o.env, "RUNTIME_DIRECTORY") ?? o.runtimeDir ?? (root ? SYSTEM_RUNTIME_DIR : userRuntime),
  };
}

/** This process's directories when no config names any (`connect`'s keys and pins, `status`, `forget`). */
const processDirs = (env: Record<string, string | undefined>, uid: number, home: string): UpDirs =>
  upDirs({ env, uid, home });

/** The state directory (keys, pins) by the rules of upDirs, for a caller without a config. */
export const defaultStateDir = (
  env: Record<string, string | undefined> = process.env,
  uid: number = process.getuid?.() ?? -1,
  home: string = env.HOME || homedir(),
): string => processDirs(env, uid, home).stateDir;

/** The runtime directory (status sockets) by the rules of upDirs, for a caller without a config. */
export const defaultRuntimeDir = (
  env: Record<string, string | undefined> = process.env,
  uid: number = process.getuid?.() ?? -1,
  home: string = env.HOME || homedir(),
): string => processDirs(env, uid, home).runtimeDir;
