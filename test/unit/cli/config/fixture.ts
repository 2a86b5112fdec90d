// Shared fixtures for the config tests (not a test file itself): a directory with a secret file, and
// loadConfig over a config text written beside it, with an empty environment and root's defaults.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { loadConfig } from "../../../../src/cli/config/index.ts";
import type { LoadOptions, UpConfig } from "../../../../src/cli/config/types.ts";
import { NetpunchError } from "../../../../src/errors.ts";

/** The secret every fixture file holds: long enough to draw no warning. */
export const SECRET = "Zq8vN3mXk2pL9wR4tY7uB1cD6fG0hJ5s";

export interface ConfigDir {
  dir: string;
  /** The config file's path. */
  file: string;
  /** The secret file's path. */
  secretFile: string;
  /** Warnings logged while loading. */
  warnings: string[];
  load(toml: string, o?: LoadOptions): Promise<UpConfig>;
  /** The error loading `toml` throws (fails the test if it loads). */
  error(toml: string, o?: LoadOptions): Promise<NetpunchError>;
  /** The error's message without the leading "FILE: ". */
  why(toml: string, o?: LoadOptions): Promise<string>;
  remove(): void;
}

export function configDir(): ConfigDir {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-config-test-"));
  const file = join(dir, "home.toml");
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  chmodSync(secretFile, 0o600); // the umask must not add a warning
  const warnings: string[] = [];
  const logger = createConsola({
    level: 4,
    reporters: [{ log: (o) => void (o.type === "warn" && warnings.push(o.args.map(String).join(" "))) }],
  });
  const load = (toml: string, o: LoadOptions = {}) => {
    writeFileSync(file, toml);
    return loadConfig(file, { env: {}, uid: 0, logger, ...o });
  };
  const error = async (toml: string, o?: LoadOptions) => {
    try {
      await load(toml, o);
    } catch (e) {
      if (e instanceof NetpunchError) return e;
      throw e;
    }
    throw new Error(`loaded, but should not have:\n${toml}`);
  };
  return {
    dir,
    file,
    secretFile,
    warnings,
    load,
    error,
    async why(toml, o) {
      const e = await error(toml, o);
      if (!e.message.startsWith(`${file}: `)) throw new Error(`does not start with the file: ${e.message}`);
      return e.message.slice(file.length + 2);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A valid top level (servers, the secret file beside the config) for tests to add tunnels to. */
export const TOP = `server = "198.51.100.7:10001"\nsecret_file = "secret"\n`;

/** TOP and one minimal tunnel, plus `extra` lines inside that tunnel's table. */
export const withTunnel = (extra = "", hook?: string): string =>
  `${TOP}\n[tunnel.office]\nrole = "a"\nsession = "home-office"\n${hook ? `hook = "${hook}"\n` : ""}${extra}\n`;
