import type { ConsolaInstance } from "consola";
import type { BuiltinHook } from "../../hooks/load.ts";

/** A config file of `netpunch up`, read, checked and resolved: what the supervisor runs. */
export interface UpConfig {
  /** The absolute path of the file read. */
  file: string;
  /** The file's name without .toml: names the status socket and the pins. */
  name: string;
  /** The rendezvous servers, as written: at least one, or none when the file gives server_tcp. */
  servers: string[];
  /** The server's WebSocket (server_tcp), where UDP is blocked; and tls_ca, as an absolute path. */
  serverTcp?: string;
  tlsCa?: string;
  secret: Uint8Array;
  stateDir: string;
  runtimeDir: string;
  /** In file order, the enabled ones only (possibly none, when every one is disabled). */
  tunnels: TunnelConfig[];
}

/** One `[tunnel.NAME]` table. */
export interface TunnelConfig {
  name: string;
  role: "a" | "b";
  session: string;
  /** The tunnel's own servers, or the file's; none when it goes by server_tcp (then in argv, --server-tcp). */
  servers: string[];
  local: string;
  /** A built-in's or package's name, or the absolute path of a hook file (a relative one is the config's). */
  hook: string;
  interface: string;
  /** This side's tunnel address, as CIDR. */
  address?: string;
  /**
   * The tunnel as a `connect` command line, without --server/--secret (with --server-tcp and --tls-ca for a
   * server_tcp): e.g. ["--role", "a", "--session",
   * "home-office", "--local", ":51820", "--hook", "wireguard", "--wg-keepalive", "25", "--", "extra"];
   * parsing it with connect's own option parser gives what `connect` would run.
   */
  argv: string[];
}

/** The effects loadConfig reads through, each with the real one as its default (tests pass their own). */
export interface LoadOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** Where a relative path argument starts, and where hook packages resolve from. @default process.cwd() */
  cwd?: string;
  /** The user id: root gets the system directories, anyone else per-user ones. @default process.getuid() */
  uid?: number;
  /** Whether a file exists (the lookup). @default node:fs existsSync */
  exists?: (path: string) => boolean;
  /** The config file's text. @default Bun.file(path).text() */
  readFile?: (path: string) => Promise<string>;
  /** The built-in hooks. @default plugins/index.ts's list */
  builtins?: readonly BuiltinHook[];
  /** Where warnings about the secret file go (too open, short). @default the CLI's logger */
  logger?: ConsolaInstance;
}
