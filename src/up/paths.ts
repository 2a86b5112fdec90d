import { tmpdir } from "node:os";
import { basename, join } from "node:path";

/** What the runtime directory depends on: the environment and whether we are root. */
export interface RuntimeDirContext {
  env: Record<string, string | undefined>;
  uid: number;
}

/**
 * Where `netpunch up` keeps its status sockets: systemd's $RUNTIME_DIRECTORY when it runs as a unit (its first
 * entry: it may list several), else /run/netpunch for root, else $XDG_RUNTIME_DIR/netpunch (the user's own
 * tmpfs, mode 0700), else a per-user folder in the temp directory.
 */
export function defaultRuntimeDir(
  c: RuntimeDirContext = { env: process.env, uid: process.getuid?.() ?? -1 },
): string {
  const systemd = c.env.RUNTIME_DIRECTORY?.split(":")[0];
  if (systemd) return systemd;
  if (c.uid === 0) return "/run/netpunch";
  if (c.env.XDG_RUNTIME_DIR) return join(c.env.XDG_RUNTIME_DIR, "netpunch");
  return join(tmpdir(), `netpunch-${c.uid}`);
}

/** The status socket's suffix: `status` looks for every file with it. */
export const SOCKET_SUFFIX = ".sock";

/** A config's name from its argument: `home`, `./home.toml` and `/etc/netpunch/home.toml` are all "home". */
export const configName = (arg: string): string => basename(arg).replace(/\.toml$/, "");

/** The status socket of the config named `config` (one per config, so two instances never share one). */
export const statusSocketPath = (runtimeDir: string, config: string): string =>
  join(runtimeDir, `${config}${SOCKET_SUFFIX}`);
