import { describe, expect, test } from "bun:test";
import { configPlaces, findConfig, isConfigPath } from "../../../../src/cli/config/lookup.ts";
import { cliHint } from "../../../../src/cli/hints.ts";
import { NetpunchError } from "../../../../src/errors.ts";

const base = { env: {}, cwd: "/srv/work", home: "/home/ana" };
const only = (...present: string[]) => ({ ...base, exists: (p: string) => present.includes(p) });

function lookupError(f: () => unknown): NetpunchError {
  try {
    f();
  } catch (e) {
    if (e instanceof NetpunchError) return e;
    throw e;
  }
  throw new Error("found, but should not have");
}

describe("where a config is looked for", () => {
  test("a name: the user's config dir ($XDG_CONFIG_HOME, else ~/.config), then /etc/netpunch", () => {
    expect(configPlaces("home", base)).toEqual([
      "/home/ana/.config/netpunch/home.toml",
      "/etc/netpunch/home.toml",
    ]);
    expect(configPlaces("home", { ...base, env: { XDG_CONFIG_HOME: "/cfg" } })).toEqual([
      "/cfg/netpunch/home.toml",
      "/etc/netpunch/home.toml",
    ]);
    expect(configPlaces("home", { ...base, env: { HOME: "/root" } })[0]).toBe(
      "/root/.config/netpunch/home.toml",
    );
  });

  test("a relative $XDG_CONFIG_HOME is ignored, as the XDG spec says", () => {
    expect(configPlaces("home", { ...base, env: { XDG_CONFIG_HOME: "cfg" } })[0]).toBe(
      "/home/ana/.config/netpunch/home.toml",
    );
  });

  test.each([
    ["./home.toml", "/srv/work/home.toml"],
    ["home.toml", "/srv/work/home.toml"],
    ["conf/home", "/srv/work/conf/home"],
    ["/etc/other/x.toml", "/etc/other/x.toml"],
  ])("%p is a path: only %p", (arg, place) => {
    expect(isConfigPath(arg)).toBe(true);
    expect(configPlaces(arg, base)).toEqual([place]);
  });

  test("the user's file wins over the system's; the system's is found without it", () => {
    const user = "/home/ana/.config/netpunch/home.toml";
    const system = "/etc/netpunch/home.toml";
    expect(findConfig("home", only(user, system))).toEqual({ file: user, name: "home" });
    expect(findConfig("home", only(system))).toEqual({ file: system, name: "home" });
    expect(findConfig("./lab.toml", only("/srv/work/lab.toml"))).toEqual({
      file: "/srv/work/lab.toml",
      name: "lab",
    });
  });

  test("not found: the error lists every place looked at", () => {
    const e = lookupError(() => findConfig("home", only()));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(
      'no config "home": looked at /home/ana/.config/netpunch/home.toml, /etc/netpunch/home.toml',
    );
    expect(e.detail.reason).toBe("config-not-found");
    expect(e.hint).not.toContain("netpunch up"); // the library's hint names no command
    expect(cliHint(e)).toContain("give its path: netpunch up ./home.toml");
    expect(lookupError(() => findConfig("./x.toml", only())).message).toBe(
      'no config "./x.toml": looked at /srv/work/x.toml',
    );
  });

  test.each([".hidden", "..", "a b", "hé"])("a name that cannot name a socket is refused: %p", (name) => {
    expect(lookupError(() => configPlaces(name, base)).message).toStartWith(
      `config name "${name}" is invalid`,
    );
  });

  test("a name of letters, digits and . _ - is looked up", () => {
    expect(configPlaces("lab_2.v-1", base)[1]).toBe("/etc/netpunch/lab_2.v-1.toml");
  });

  test("a path whose file name cannot name a socket is refused once found", () => {
    const e = lookupError(() => findConfig("./my home.conf", only("/srv/work/my home.conf")));
    expect(e.message).toStartWith('config name "my home.conf" is invalid');
  });
});
