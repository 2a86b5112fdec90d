import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ArgsDef, type ParsedArgs, parseArgs } from "citty";
import { builtinHooks } from "../../../../plugins/index.ts";
import { checkArgs } from "../../../../src/cli/common.ts";
import { loadConfig } from "../../../../src/cli/config/index.ts";
import type { TunnelConfig } from "../../../../src/cli/config/types.ts";
import { connectArgs, peerOptions } from "../../../../src/cli/connect.ts";
import { loadHook, passthroughArgs } from "../../../../src/hooks/load.ts";
import { mergedHookArgs } from "../../../../src/hooks/run.ts";
import { configDir, SECRET, TOP, withTunnel } from "./fixture.ts";

const c = configDir();
afterAll(() => c.remove());

const SERVER = "198.51.100.7:10001";

/** What connect's own parser makes of a tunnel's argv, with the hook's options as connect adds them. */
async function asConnectParses(t: TunnelConfig) {
  const hook = await loadHook(t.hook, { builtins: builtinHooks });
  const defs: ArgsDef = { ...connectArgs, ...mergedHookArgs([hook], connectArgs) };
  const argv = ["--server", SERVER, ...t.argv];
  checkArgs(argv, defs); // connect's strictness: no unknown option, none twice, no boolean with a value
  return { args: parseArgs(argv, defs) as Record<string, unknown>, extra: passthroughArgs(argv) };
}

async function onlyTunnel(toml: string): Promise<TunnelConfig> {
  const config = await c.load(toml);
  expect(config.tunnels).toHaveLength(1);
  return config.tunnels[0] as TunnelConfig;
}

describe("a config as up runs it", () => {
  test("the smallest file: its defaults", async () => {
    const config = await c.load(withTunnel());
    expect({ ...config, secret: new TextDecoder().decode(config.secret) }).toEqual({
      file: c.file,
      name: "home",
      servers: [SERVER],
      secret: SECRET, // read from the file beside the config, its newline dropped
      stateDir: "/var/lib/netpunch",
      runtimeDir: "/run/netpunch",
      tunnels: [
        {
          name: "office",
          role: "a",
          session: "home-office",
          servers: [SERVER],
          local: ":0",
          hook: "print",
          interface: "np-office",
          argv: ["--role", "a", "--session", "home-office", "--local", ":0", "--hook", "print"],
        },
      ],
    });
    expect(c.warnings).toEqual([]);
  });

  test("servers as written, several; a tunnel's own replace the file's for it only", async () => {
    const toml = `server = ["rendezvous.example:10001", "[2001:db8::7]:10001"]\nsecret_file = "secret"
[tunnel.a]\nrole = "a"\nsession = "s1"\nserver = "backup.example:10002"
[tunnel.b]\nrole = "b"\nsession = "s2"\n`;
    const config = await c.load(toml);
    expect(config.servers).toEqual(["rendezvous.example:10001", "[2001:db8::7]:10001"]);
    expect(config.tunnels.map((t) => t.servers)).toEqual([
      ["backup.example:10002"],
      ["rendezvous.example:10001", "[2001:db8::7]:10001"],
    ]);
  });

  test("tunnels in file order, the disabled ones left out", async () => {
    const toml = `${TOP}
[tunnel.zulu]\nrole = "a"\nsession = "z"
[tunnel.alpha]\nrole = "a"\nsession = "a"\nenabled = false
[tunnel.mike]\nrole = "b"\nsession = "m"\nenabled = true\n`;
    expect((await c.load(toml)).tunnels.map((t) => t.name)).toEqual(["zulu", "mike"]);
  });

  test("a long tunnel name: its interface is np- and the name cut to 15 characters", async () => {
    const t = await onlyTunnel(`${TOP}[tunnel.office-berlin_2]\nrole = "a"\nsession = "s"\n`);
    expect(t.interface).toBe("np-office-berli");
    expect(t.interface).toHaveLength(15);
    expect((await onlyTunnel(withTunnel('interface = "wg7"\naddress = "2001:db8::1/64"'))).interface).toBe(
      "wg7",
    );
  });

  test("the state and runtime directories: systemd's over the file's over the defaults", async () => {
    const dirs = 'state_dir = "/srv/np"\nruntime_dir = "/srv/np-run"\n';
    const fromFile = await c.load(withTunnel().replace(TOP, TOP + dirs));
    expect([fromFile.stateDir, fromFile.runtimeDir]).toEqual(["/srv/np", "/srv/np-run"]);
    const env = {
      STATE_DIRECTORY: "/var/lib/netpunch:/var/lib/other",
      RUNTIME_DIRECTORY: "/run/netpunch-home",
    };
    const underSystemd = await c.load(withTunnel().replace(TOP, TOP + dirs), { env });
    expect([underSystemd.stateDir, underSystemd.runtimeDir]).toEqual([
      "/var/lib/netpunch",
      "/run/netpunch-home",
    ]);
    const user = await c.load(withTunnel(), {
      uid: 1000,
      env: { HOME: "/home/ana", XDG_RUNTIME_DIR: "/run/user/1000" },
    });
    expect([user.stateDir, user.runtimeDir]).toEqual([
      "/home/ana/.local/state/netpunch",
      "/run/user/1000/netpunch",
    ]);
  });

  test("found by name in $XDG_CONFIG_HOME/netpunch", async () => {
    mkdirSync(join(c.dir, "xdg", "netpunch"), { recursive: true });
    const file = join(c.dir, "xdg", "netpunch", "lab.toml");
    writeFileSync(file, withTunnel().replace('"secret"', JSON.stringify(c.secretFile)));
    const config = await loadConfig("lab", { env: { XDG_CONFIG_HOME: join(c.dir, "xdg") }, uid: 0 });
    expect([config.file, config.name]).toEqual([file, "lab"]);
  });

  test("a relative path argument starts at cwd", async () => {
    writeFileSync(c.file, withTunnel());
    const config = await loadConfig("./home.toml", { env: {}, uid: 0, cwd: c.dir });
    expect(config.file).toBe(c.file);
  });

  test("a hook file relative to the config is found beside it, and given to connect by its absolute path", async () => {
    mkdirSync(join(c.dir, "hooks"), { recursive: true });
    writeFileSync(
      join(c.dir, "hooks", "mine.ts"),
      `export default { name: "mine", description: "a test hook", args: { "mine-level": { type: "string" } }, run() {} };\n`,
    );
    const t = await onlyTunnel(withTunnel("mine-level = 3", "hooks/mine.ts"));
    expect(t.hook).toBe(join(c.dir, "hooks", "mine.ts"));
    expect(t.argv.slice(-4)).toEqual(["--hook", t.hook, "--mine-level", "3"]);
    expect(await c.why(withTunnel("mine-levl = 3", "hooks/mine.ts"))).toBe(
      '[tunnel.office] mine-levl: unknown key; did you mean "mine-level"?',
    );
  });
});

describe("connect's options and the hook's, as connect's own parser reads them", () => {
  test("the issue's wireguard tunnel", async () => {
    const t = await onlyTunnel(
      withTunnel(
        'local = ":51820"\ninterface = "np-office"\naddress = "198.18.201.1/24"\nwg-keepalive = 25',
        "wireguard",
      ),
    );
    // biome-ignore format: the command line as one reads it, not one word a line
    expect(t.argv).toEqual([
      "--role", "a", "--session", "home-office", "--local", ":51820", "--hook", "wireguard", "--wg-keepalive", "25",
    ]);
    expect(t.address).toBe("198.18.201.1/24");
    const { args } = await asConnectParses(t);
    expect([args.role, args.session, args.local, args.hook, args["wg-keepalive"]]).toEqual([
      "a",
      "home-office",
      ":51820",
      "wireguard",
      "25",
    ]);
  });

  test("every kind of connect option: numbers as citty's strings, booleans as the flag or its --no- form", async () => {
    const t = await onlyTunnel(
      withTunnel(
        'timeout = 600\npunch-timeout = 2.5\nrelay-after = "4"\nrelay = false\nlan = true\nport-map = true\nserver-timeout = 7',
      ),
    );
    // biome-ignore format: the command line as one reads it, not one word a line
    expect(t.argv.slice(8)).toEqual([
      "--timeout", "600", "--punch-timeout", "2.5", "--relay-after", "4", "--no-relay", "--lan", "--port-map",
      "--server-timeout", "7",
    ]);
    const { args } = await asConnectParses(t);
    expect(args).toMatchObject({
      timeout: "600",
      "punch-timeout": "2.5",
      "relay-after": "4",
      relay: false,
      lan: true,
      "port-map": true,
      "server-timeout": "7",
    });
  });

  test("a value that starts with - stays one value", async () => {
    const t = await onlyTunnel(withTunnel('format = "-{rhost}-"'));
    expect(t.argv.slice(-1)).toEqual(["--format=-{rhost}-"]);
    expect((await asConnectParses(t)).args.format).toBe("-{rhost}-");
  });

  test.each([
    [
      "wireguard",
      'wg-keepalive = 10\nwg-sudo = true\nwg-up = "wireguard-go"\nwg-stale = 120',
      { "wg-keepalive": "10", "wg-sudo": true, "wg-up": "wireguard-go", "wg-stale": "120" },
      [],
    ],
    [
      "openvpn",
      'openvpn-sudo = true\nopenvpn-bin = "/usr/sbin/openvpn"\nargs = ["--dev", "tun", "--verb", "3"]',
      { "openvpn-sudo": true, "openvpn-bin": "/usr/sbin/openvpn" },
      ["--dev", "tun", "--verb", "3"],
    ],
    [
      "exec",
      'exec-replace = false\nargs = ["socat", "UDP-LISTEN:{lport}", "--", "x"]',
      { "exec-replace": false },
      ["socat", "UDP-LISTEN:{lport}", "--", "x"],
    ],
    ["print", "json = true", { json: true }, []],
    ["print", 'format = "{rhost}:{rport}"', { format: "{rhost}:{rport}" }, []],
  ] as const)(
    "the %s hook's options are accepted and parsed back (%#)",
    async (hook, lines, expected, extra) => {
      const t = await onlyTunnel(withTunnel(lines, hook));
      const { args, extra: after } = await asConnectParses(t);
      expect(args).toMatchObject(expected);
      expect(after).toEqual([...extra]);
    },
  );

  test.each([
    ["wireguard", "openvpn-sudo = true", "openvpn"],
    ["wireguard", "json = true", "print"],
    ["openvpn", "wg-keepalive = 25", "wireguard"],
    ["openvpn", "exec-replace = true", "exec"],
    ["exec", "wg-sudo = true", "wireguard"],
    ["print", 'openvpn-bin = "openvpn"', "openvpn"],
  ])("the %s hook refuses %p, an option of the %s hook", async (hook, line, owner) => {
    const key = line.split(" ")[0];
    expect(await c.why(withTunnel(line, hook))).toBe(
      `[tunnel.office] ${key}: is an option of the ${owner} hook, and this tunnel's hook is ${hook}`,
    );
  });

  test.each([
    ["wireguard", 'args = ["x"]'],
    ["print", 'args = ["x"]'],
  ])("the %s hook takes no args", async (hook, line) => {
    expect(await c.why(withTunnel(line, hook))).toBe(
      `[tunnel.office] args: the ${hook} hook takes no arguments after --`,
    );
  });

  test("hook booleans take only true or false, string options no boolean", async () => {
    expect(await c.why(withTunnel('wg-sudo = "yes"', "wireguard"))).toBe(
      "[tunnel.office] wg-sudo: must be true or false",
    );
    expect(await c.why(withTunnel("openvpn-bin = true", "openvpn"))).toBe(
      "[tunnel.office] openvpn-bin: must be a string or a number",
    );
  });
});

describe("the sample config", () => {
  test("packaging/home.toml.example loads, its secret file aside", async () => {
    const sample = readFileSync(join(import.meta.dir, "../../../../packaging/home.toml.example"), "utf8");
    expect(sample).toContain('secret_file = "/etc/netpunch/secret"');
    const config = await c.load(
      sample.replace('secret_file = "/etc/netpunch/secret"', 'secret_file = "secret"'),
    );
    expect(config.servers).toEqual(["rendezvous.example:10001", "backup.example:10001"]);
    expect(config.tunnels.map((t) => [t.name, t.hook, t.interface, t.address])).toEqual([
      ["office", "wireguard", "np-office", "198.18.201.1/24"],
      ["backup", "openvpn", "np-backup", "198.18.202.2/30"],
    ]); // printer is disabled
    for (const t of config.tunnels) await asConnectParses(t);
  });
});

describe("proxy mode in a tunnel", () => {
  test("proxy = true becomes --proxy, which connect parses and peerOptions turns into PeerRun.proxy", async () => {
    const t = await onlyTunnel(withTunnel("proxy = true"));
    expect(t.argv.slice(8)).toEqual(["--proxy"]);
    const { args } = await asConnectParses(t);
    expect(args.proxy).toBe(true);
    const run = peerOptions(args as ParsedArgs<typeof connectArgs>, new Uint8Array(32), [
      "198.51.100.7:10001",
    ]);
    expect(run.proxy).toBe(true);
  });
});
