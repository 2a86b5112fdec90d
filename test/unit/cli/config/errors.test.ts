import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { configDir, SECRET, TOP, withTunnel } from "./fixture.ts";

const c = configDir();
afterAll(() => c.remove());

const SECRET_FILE = 'secret_file = "secret"';
const two = (a: string, b: string) => `${TOP}\n[tunnel.a]\n${a}\n[tunnel.b]\n${b}\n`;

describe("every error names the file, the table and the key", () => {
  test.each([
    // The top level.
    [`${SECRET_FILE}\n[tunnel.x]\nrole = "a"`, "server: is required", "no server"],
    [`server = 5\n${SECRET_FILE}`, 'server: must be "host:port" or an array of them', "server not a string"],
    [`server = []\n${SECRET_FILE}`, "server: must list at least one server", "no servers"],
    [`server = ["nohost"]\n${SECRET_FILE}`, "server: is not a valid address: the port is missing", "no port"],
    [
      `server = ["198.51.100.7:99999"]\n${SECRET_FILE}`,
      "server: is not a valid address: port 99999 is out of range (1-65535)",
      "port out of range",
    ],
    [`server = ["198.51.100.7:1", 7]\n${SECRET_FILE}`, 'server: must be "host:port"', "a number in the list"],
    [
      `server = ["198.51.100.7:1", "198.51.100.7:1"]\n${SECRET_FILE}`,
      "server: lists a server twice",
      "repeat",
    ],
    ['server = "198.51.100.7:1"', "secret_file: is required", "no secret file"],
    [
      'server = "198.51.100.7:1"\nsecret_file = ""',
      "secret_file: must be the path of the secret file, not empty",
      "empty",
    ],
    [`${TOP}state_dir = "var/np"`, "state_dir: must be an absolute path", "relative state_dir"],
    [`${TOP}runtime_dir = 3`, "runtime_dir: must be a directory (a string)", "runtime_dir not a string"],
    [`${TOP}servr = 1`, 'servr: unknown key; did you mean "server"?', "top-level typo"],
    [
      `server = "198.51.100.7:1"\nsecret_flie = "secret"`,
      'secret_flie: unknown key; did you mean "secret_file"?',
      "typo hiding a required key",
    ],
    [`${TOP}colour = 1`, "colour: unknown key", "unknown, nothing close"],
    [`${TOP}role = "a"`, "role: belongs in a [tunnel.NAME] table", "a tunnel key at the top"],
    [TOP, "tunnel: no [tunnel.NAME] table: the file has no tunnel", "no tunnel"],
    [`${TOP}tunnel = 3`, "tunnel: must be tables: [tunnel.NAME]", "tunnel not a table"],
    [
      `${TOP}[tunnel."of fice"]\nrole = "a"`,
      "[tunnel.of fice]: a tunnel's name is letters, digits, - and _ only",
      "bad name",
    ],
    [`${TOP}tunnel.office = 1`, "[tunnel.office]: must be a table", "tunnel value not a table"],
    // A tunnel's own keys.
    [withTunnel().replace('role = "a"\n', ""), "[tunnel.office] role: is required", "no role"],
    [
      withTunnel().replace('role = "a"', 'role = "c"'),
      '[tunnel.office] role: must be "a" or "b"',
      "bad role",
    ],
    [
      withTunnel().replace('session = "home-office"\n', ""),
      "[tunnel.office] session: is required",
      "no session",
    ],
    [
      withTunnel().replace('session = "home-office"', 'session = "home office"'),
      "[tunnel.office] session: must be 1-64 letters, digits and . _ @ : + - (the partner's config names the same)",
      "bad session",
    ],
    [
      withTunnel().replace('session = "home-office"', "session = 5"),
      "[tunnel.office] session: must be a session name (a string)",
      "session not a string",
    ],
    [
      withTunnel('local = "0.0.0.0"'),
      "[tunnel.office] local: is not a valid address: the port is missing",
      "local without port",
    ],
    [
      withTunnel("hook = 1"),
      "[tunnel.office] hook: must be a hook's name or the path of a hook file (a string)",
      "hook not a string",
    ],
    [
      withTunnel('interface = "np-office-berlin-1"'),
      "[tunnel.office] interface: must be 1-15 letters, digits and _ . = - (Linux's limit)",
      "interface too long",
    ],
    [
      withTunnel('interface = ".."'),
      "[tunnel.office] interface: must be 1-15 letters, digits and _ . = - (Linux's limit)",
      "interface ..",
    ],
    [
      withTunnel('address = "198.18.0.1"'),
      "[tunnel.office] address: must be an address with its prefix length, e.g. 198.18.201.1/24",
      "address without prefix",
    ],
    [
      withTunnel('address = "198.18.0.300/24"'),
      "[tunnel.office] address: is not an IPv4 or IPv6 address with a prefix length",
      "bad IPv4",
    ],
    [
      withTunnel('address = "198.18.0.1/33"'),
      "[tunnel.office] address: must end in a prefix length of 0 to 32",
      "IPv4 prefix",
    ],
    [
      withTunnel('address = "2001:db8::1/129"'),
      "[tunnel.office] address: must end in a prefix length of 0 to 128",
      "IPv6 prefix",
    ],
    [
      withTunnel('args = "x"'),
      "[tunnel.office] args: must be an array of strings: what follows -- for the hook",
      "args not an array",
    ],
    [
      withTunnel('args = ["x"]'),
      "[tunnel.office] args: the print hook takes no arguments after --",
      "args for print",
    ],
    [
      withTunnel('server = "nohost"'),
      "[tunnel.office] server: is not a valid address: the port is missing",
      "tunnel server",
    ],
    [
      withTunnel('enabled = "yes"'),
      "[tunnel.office] enabled: must be true or false",
      "enabled not a boolean",
    ],
    // connect's options and the hooks'.
    [
      withTunnel('sesion = "x"'),
      '[tunnel.office] sesion: unknown key; did you mean "session"?',
      "tunnel typo",
    ],
    [
      withTunnel("relay_after = 3"),
      '[tunnel.office] relay_after: unknown key; did you mean "relay-after"?',
      "_ for -",
    ],
    [withTunnel("d = 1979-05-27T07:32:00Z"), "[tunnel.office] d: unknown key", "unknown key, nothing close"],
    [withTunnel("[tunnel.office.nested]\nx = 1"), "[tunnel.office] nested: unknown key", "a nested table"],
    [withTunnel('relay = "no"'), "[tunnel.office] relay: must be true or false", "boolean option"],
    [
      withTunnel('timeout = "soon"'),
      "[tunnel.office] timeout: must be a number of seconds above 0, at most 2073600 (24 days)",
      "seconds option",
    ],
    [
      withTunnel("relay-after = 99999999"),
      "[tunnel.office] relay-after: must be a number of seconds above 0, at most 2073600 (24 days)",
      "seconds too long",
    ],
    [
      withTunnel("timeout = true"),
      "[tunnel.office] timeout: must be a string or a number",
      "string option given a boolean",
    ],
    [
      withTunnel('punch-timeout = ["1"]'),
      "[tunnel.office] punch-timeout: must be a string or a number",
      "an array",
    ],
    [
      withTunnel("loop = true"),
      "[tunnel.office] loop: is not a tunnel's setting: netpunch up always punches again when a tunnel ends",
      "loop",
    ],
    [
      withTunnel('secret-file = "x"'),
      "[tunnel.office] secret-file: is not a tunnel's setting: secret_file is set once, at the top level",
      "secret-file in a tunnel",
    ],
    [
      withTunnel("verbose = true"),
      "[tunnel.office] verbose: is not a tunnel's setting: logging is netpunch up's own: give it on up's command line",
      "verbose",
    ],
    [withTunnel("", "nope"), '[tunnel.office] hook: unknown hook "nope"', "unknown hook"],
    // Two tunnels of one file.
    [
      two('role = "a"\nsession = "s1"', 'role = "a"\nsession = "s1"'),
      "[tunnel.b] session: tunnel.a is the same peer (the same session and role)",
      "same peer twice",
    ],
    [
      two('role = "a"\nsession = "s1"\ninterface = "wg0"', 'role = "b"\nsession = "s2"\ninterface = "wg0"'),
      "[tunnel.b] interface: tunnel.a has the same interface (wg0)",
      "same interface",
    ],
    [
      `${TOP}[tunnel.office-berlin-1]\nrole = "a"\nsession = "s1"\n[tunnel.office-berlin-2]\nrole = "a"\nsession = "s2"\n`,
      "[tunnel.office-berlin-2] interface: tunnel.office-berlin-1 has the same interface (np-office-berli)",
      "derived interfaces cut to the same 15 characters",
    ],
    // The file itself.
    ["x = \n", "not valid TOML: Missing value after '='; values must be on the same line", "syntax"],
    ["[a]\nb = 1\n[a]\nb = 2\n", "not valid TOML: Cannot redefine table 'a'", "a table twice"],
  ])("%#: %p -> %p (%s)", async (toml, message) => {
    const e = await c.error(toml);
    expect(e.message).toBe(`${c.file}: ${message}`);
    expect(e.code).toBe("E_USAGE");
  });

  test("a hook option the hook's own check refuses is named, with the hook's reason", async () => {
    expect(await c.why(withTunnel('wg-up = "systemd"', "wireguard"))).toBe(
      "[tunnel.office] wg-up: must be none, wg-quick or wireguard-go",
    );
    expect(await c.why(withTunnel('format = "{nope}"'))).toStartWith(
      "[tunnel.office] format: unknown field {nope}",
    );
    expect(await c.why(withTunnel("wg-keepalive = 0", "wireguard"))).toStartWith(
      "[tunnel.office] wg-keepalive: ",
    );
  });

  test("a missing hook file is named as the config's neighbour", async () => {
    expect(await c.why(withTunnel("", "./hooks/missing.ts"))).toBe(
      `[tunnel.office] hook: hook file ${join(c.dir, "hooks/missing.ts")} does not exist`,
    );
  });

  test("a disabled tunnel is checked all the same", async () => {
    expect(await c.why(withTunnel("enabled = false\nsesion = 1"))).toBe(
      '[tunnel.office] sesion: unknown key; did you mean "session"?',
    );
  });

  test("the errors carry where they are as detail, for a front end", async () => {
    const e = await c.error(withTunnel('role = "c"').replace('role = "a"\n', ""));
    expect(e.detail).toEqual({ file: c.file, table: "tunnel.office", key: "role" });
    expect((await c.error(`${TOP}servr = 1`)).detail).toEqual({ file: c.file, key: "servr" });
  });

  test("an unreadable file names it, with the reason", async () => {
    const readFile = () => Promise.reject(Object.assign(new Error("denied"), { code: "EACCES" }));
    expect(await c.why(withTunnel(), { readFile })).toBe("cannot read it: EACCES");
  });

  test("the secret file's failures are E_SECRET, named as the key secret_file", async () => {
    const missing = await c.error(TOP.replace('"secret"', '"nosuch"'));
    expect(missing.code).toBe("E_SECRET");
    expect(missing.message).toBe(
      `${c.file}: secret_file: cannot read the secret file ${join(c.dir, "nosuch")}: no such file (ENOENT)`,
    );
    writeFileSync(join(c.dir, "empty"), "");
    const empty = await c.error(TOP.replace('"secret"', '"empty"'));
    expect(empty.message).toBe(`${c.file}: secret_file: the secret is empty`);
    expect(empty.code).toBe("E_SECRET");
  });
});

describe("the secret appears in no error", () => {
  test.each([
    [
      "at the top level, in the key 'secret'",
      `${TOP}secret = "${SECRET}"\n[tunnel.x]\nrole = "a"\nsession = "s"`,
    ],
    ["in a tunnel, in the key 'secret'", withTunnel(`secret = "${SECRET}"`)],
    ["as a mistyped key's value", withTunnel(`sesion = "${SECRET}"`)],
    ["as a bad session", withTunnel().replace('"home-office"', `"${SECRET} "`)],
    ["as a server's port", `server = "198.51.100.7:${SECRET}"\nsecret_file = "secret"`],
    ["as an unknown hook", withTunnel("", SECRET)],
  ])("%s", async (_, toml) => {
    const e = await c.error(toml);
    for (const text of [e.message, e.hint ?? ""]) {
      expect(text).not.toContain(SECRET);
      expect(text.toLowerCase()).not.toContain(SECRET.toLowerCase());
    }
  });

  test("even where a hook's own message would quote it, it is blanked", async () => {
    // print's check quotes an unknown {field} of a template: a secret of lowercase letters is one.
    const letters = "thesecretofonlylowercaselettersxyz";
    writeFileSync(join(c.dir, "letters"), letters, { mode: 0o600 });
    const toml = withTunnel(`format = "{${letters}}"`).replace('"secret"', '"letters"');
    const e = await c.error(toml);
    expect(e.message).toStartWith(`${c.file}: [tunnel.office] format: unknown field {(the secret)}`);
    expect(e.message).not.toContain(letters);
  });

  test("the secret key at the top level says where the secret goes", async () => {
    const e = await c.error(`${TOP}secret = "${SECRET}"`);
    expect(e.message).toBe(`${c.file}: secret: the secret does not go in the config`);
    expect(e.hint).toContain("secret_file");
  });
});
