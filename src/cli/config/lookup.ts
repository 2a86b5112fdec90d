import { basename, isAbsolute, join, resolve } from "node:path";
import { Fail } from "../../errors.ts";
import { xdgDir } from "../../sys/dirs.ts";

/** Where the system's configs live, after the user's own. */
export const SYSTEM_CONFIG_DIR = "/etc/netpunch";

/**
 * A config's name: it names the status socket and the state (pins) files, so only characters that are safe in
 * a file name, and no leading dot (no "..", no hidden file).
 */
const CONFIG_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** The config file found, and the name it is known by. */
export interface ConfigLocation {
  /** Absolute. */
  file: string;
  /** The file's name without .toml. */
  name: string;
}

/** What the lookup reads: the environment (XDG_CONFIG_HOME, HOME), the current directory, the file system. */
export interface LookupEnv {
  env: Record<string, string | undefined>;
  cwd: string;
  /** The home directory when $HOME is not set. */
  home: string;
  exists: (path: string) => boolean;
}

/** An argument with a "/" or ending in ".toml" is a path; anything else a name looked up in the config dirs. */
export const isConfigPath = (arg: string): boolean => arg.includes("/") || arg.endsWith(".toml");

/** Every place `arg` may be, in the order they are tried. Pure. */
export function configPlaces(arg: string, o: Omit<LookupEnv, "exists">): string[] {
  if (isConfigPath(arg)) return [resolve(o.cwd, arg)];
  if (!CONFIG_NAME.test(arg))
    throw Fail.configBadName(arg, "letters, digits and . _ - only, not starting with .");
  const home = o.env.HOME && isAbsolute(o.env.HOME) ? o.env.HOME : o.home;
  const userDir = xdgDir(o.env, "XDG_CONFIG_HOME", join(home, ".config"));
  return [join(userDir, "netpunch", `${arg}.toml`), join(SYSTEM_CONFIG_DIR, `${arg}.toml`)];
}

/**
 * `netpunch up home`: the first of $XDG_CONFIG_HOME/netpunch/home.toml (~/.config by default) and
 * /etc/netpunch/home.toml; `netpunch up ./home.toml`: that file. Not found: an error listing every place.
 */
export function findConfig(arg: string, o: LookupEnv): ConfigLocation {
  const places = configPlaces(arg, o);
  const file = places.find((p) => o.exists(p));
  if (file === undefined) throw Fail.configNotFound(arg, places);
  const name = basename(file).replace(/\.toml$/, "");
  if (!CONFIG_NAME.test(name))
    throw Fail.configBadName(name, "letters, digits and . _ - only, not starting with .");
  return { file, name };
}
