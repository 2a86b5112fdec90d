// The pure parts of the built-in hooks and of hook loading: the command lines they build, the templates and
// environment they hand to child processes, and how hooks' options are merged and checked. No processes,
// no sockets.
import { describe, expect, test } from "bun:test";
import type { ArgsDef, ParsedArgs } from "citty";
import * as v from "valibot";
import { execArgv } from "../../../plugins/exec.ts";
import { builtinHooks } from "../../../plugins/index.ts";
import { openvpnArgv } from "../../../plugins/openvpn.ts";
import { socatArgv } from "../../../plugins/socat-forward.ts";
import {
  latestHandshake,
  receivedBytes,
  silentLimitS,
  wgSetArgv,
  wgUpCommands,
} from "../../../plugins/wireguard.ts";
import { defineHook, definePlugin } from "../../../src/hooks/hook.ts";
import { type AnyHook, hookSpecs, passthroughArgs } from "../../../src/hooks/load.ts";
import { fillTemplate, resultEnv, TEMPLATE_FIELDS, templateProblem } from "../../../src/hooks/result-env.ts";
import { checkHookOptions, mergedHookArgs } from "../../../src/hooks/run.ts";
import { MAX_SECONDS } from "../../../src/sys/clock.ts";
import type { PunchResult } from "../../../src/types.ts";
import { sampleResult } from "../../support/result.ts";
import { netpunchError } from "../support.ts";

const v4 = sampleResult({ session: "lab-1" });

/** Bound to a specific local address rather than the wildcard. */
const v4bound: PunchResult = { ...v4, laddr: "192.0.2.10:10000", lhost: "192.0.2.10" };

const v6: PunchResult = {
  ...v4,
  role: "b",
  laddr: "[::]:10000",
  lhost: "::",
  raddr: "[2001:db8::20]:40002",
  rhost: "2001:db8::20",
  publicAddr: "[2001:db8::10]:40001",
};

const v6bound: PunchResult = { ...v6, laddr: "[2001:db8::10]:10000", lhost: "2001:db8::10" };

/** The options of the original README's openvpn line (tunnel addresses moved to 198.18.0.0/15). */
const SEED_OPENVPN_OPTIONS = [
  "--auth-nocache",
  "--secret",
  "secret.key",
  "--auth",
  "SHA256",
  "--cipher",
  "AES-256-CBC",
  "--dev",
  "tun",
  "--ifconfig",
  "198.18.200.1",
  "198.18.200.2",
  "--verb",
  "3",
  "--ping",
  "10",
  "--ping-exit",
  "40",
];

const parsed = (o: Record<string, unknown>): ParsedArgs => ({ _: [], ...o }) as unknown as ParsedArgs;

describe("openvpnArgv", () => {
  test("the punched path first, then the seed README's options verbatim", () => {
    const argv = openvpnArgv(v4, { bin: "openvpn", sudo: false, extra: SEED_OPENVPN_OPTIONS });
    expect(argv).toEqual([
      "openvpn",
      "--remote",
      "203.0.113.20",
      "--rport",
      "40002",
      "--lport",
      "10000",
      "--proto",
      "udp",
      ...SEED_OPENVPN_OPTIONS,
    ]);
  });

  test("the user's options are passed on untouched, even ones that look like templates or repeat ours", () => {
    const extra = ["--remote", "{rhost}", "--setenv", "X", "a b  c", "--script-security", "2", ""];
    const argv = openvpnArgv(v4, { bin: "openvpn", sudo: false, extra });
    expect(argv.slice(-extra.length)).toEqual(extra);
    expect(argv.slice(0, 3)).toEqual(["openvpn", "--remote", "203.0.113.20"]);
  });

  test("--config comes after the punched options and before the passthrough", () => {
    const argv = openvpnArgv(v4, {
      bin: "/usr/sbin/openvpn",
      config: "/etc/openvpn/p2p.conf",
      sudo: false,
      extra: ["--verb", "4"],
    });
    expect(argv).toEqual([
      "/usr/sbin/openvpn",
      "--remote",
      "203.0.113.20",
      "--rport",
      "40002",
      "--lport",
      "10000",
      "--proto",
      "udp",
      "--config",
      "/etc/openvpn/p2p.conf",
      "--verb",
      "4",
    ]);
  });

  test("sudo -n prefixes the whole command line", () => {
    const plain = openvpnArgv(v4, { bin: "/usr/sbin/openvpn", sudo: false, extra: SEED_OPENVPN_OPTIONS });
    const sudo = openvpnArgv(v4, { bin: "/usr/sbin/openvpn", sudo: true, extra: SEED_OPENVPN_OPTIONS });
    expect(sudo).toEqual(["sudo", "-n", ...plain]);
  });

  test("udp6 towards an IPv6 partner, udp towards IPv4", () => {
    const proto = (r: PunchResult) => {
      const argv = openvpnArgv(r, { bin: "openvpn", sudo: false, extra: [] });
      return argv[argv.indexOf("--proto") + 1];
    };
    expect(proto(v4)).toBe("udp");
    expect(proto(v6)).toBe("udp6");
    expect(openvpnArgv(v6, { bin: "openvpn", sudo: false, extra: [] }).slice(1, 3)).toEqual([
      "--remote",
      "2001:db8::20",
    ]);
  });

  test("--local only when bound to a specific address, never for a wildcard", () => {
    const local = (r: PunchResult) => {
      const argv = openvpnArgv(r, { bin: "openvpn", sudo: false, extra: [] });
      const i = argv.indexOf("--local");
      return i < 0 ? undefined : argv[i + 1];
    };
    expect(local(v4)).toBeUndefined();
    expect(local(v6)).toBeUndefined();
    expect(local({ ...v4, lhost: "" })).toBeUndefined();
    expect(local(v4bound)).toBe("192.0.2.10");
    expect(local(v6bound)).toBe("2001:db8::10");
  });
});

describe("wireguard", () => {
  const PEER = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

  test("wgSetArgv: listen on the punched port, endpoint is the partner's mapped address", () => {
    expect(wgSetArgv(v4, { iface: "wgnp", peer: PEER, keepalive: 25 })).toEqual([
      "wg",
      "set",
      "wgnp",
      "listen-port",
      "10000",
      "peer",
      PEER,
      "endpoint",
      "203.0.113.20:40002",
      "persistent-keepalive",
      "25",
    ]);
  });

  test("wgSetArgv: an IPv6 endpoint is bracketed", () => {
    const argv = wgSetArgv(v6, { iface: "wg0", peer: PEER, keepalive: 5 });
    expect(argv[argv.indexOf("endpoint") + 1]).toBe("[2001:db8::20]:40002");
    expect(argv[argv.indexOf("persistent-keepalive") + 1]).toBe("5");
  });

  test("wgUpCommands: none does nothing", () => {
    expect(
      wgUpCommands({ mode: "none", iface: "wg0", config: "x.conf", address: "198.18.201.1/24" }),
    ).toEqual([]);
  });

  test("wgUpCommands: wg-quick up with the config, or the interface name without one", () => {
    expect(wgUpCommands({ mode: "wg-quick", iface: "wg0", config: "/etc/wireguard/np.conf" })).toEqual([
      ["wg-quick", "up", "/etc/wireguard/np.conf"],
    ]);
    expect(wgUpCommands({ mode: "wg-quick", iface: "wg0" })).toEqual([["wg-quick", "up", "wg0"]]);
  });

  test("wgUpCommands: wireguard-go gets setconf, address and link up, in that order", () => {
    expect(
      wgUpCommands({
        mode: "wireguard-go",
        iface: "wgnp",
        config: "/tmp/a.conf",
        address: "198.18.201.1/24",
      }),
    ).toEqual([
      ["wg", "setconf", "wgnp", "/tmp/a.conf"],
      ["ip", "address", "add", "198.18.201.1/24", "dev", "wgnp"],
      ["ip", "link", "set", "wgnp", "up"],
    ]);
    expect(wgUpCommands({ mode: "wireguard-go", iface: "wgnp" })).toEqual([
      ["ip", "link", "set", "wgnp", "up"],
    ]);
  });

  test("receivedBytes: the peer's received bytes from wg show transfer, 0 for none or another peer", () => {
    const OTHER = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
    const out = `${OTHER}\t100\t200\n${PEER}\t4242\t9000\n`;
    expect(receivedBytes(out, PEER)).toBe(4242);
    expect(receivedBytes(out, OTHER)).toBe(100);
    expect(receivedBytes(`${OTHER}\t100\t200\n`, PEER)).toBe(0);
    expect(receivedBytes("", PEER)).toBe(0);
  });

  test("silentLimitS: three keepalives, never under 10 s, unless given", () => {
    expect(silentLimitS(25)).toBe(75);
    expect(silentLimitS(2)).toBe(10);
    expect(silentLimitS(25, 30)).toBe(30);
  });

  test("latestHandshake: the peer's timestamp, 0 for never or for another peer", () => {
    const OTHER = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
    const out = `${OTHER}\t1700000000\n${PEER}\t1700000123\n`;
    expect(latestHandshake(out, PEER)).toBe(1700000123);
    expect(latestHandshake(out, OTHER)).toBe(1700000000);
    expect(latestHandshake(`${PEER}\t0\n`, PEER)).toBe(0);
    expect(latestHandshake("", PEER)).toBe(0);
    expect(latestHandshake(`${OTHER}\t1700000000\n`, PEER)).toBe(0);
    expect(latestHandshake(`  ${PEER}   1700000456  \n`, PEER)).toBe(1700000456);
    expect(latestHandshake(`${PEER}\tgarbage\n`, PEER)).toBe(0);
  });
});

describe("socatArgv", () => {
  const peerAddress = (argv: string[]) => argv.find((a) => a.includes("-DATAGRAM:")) ?? "";

  test("exposing a local service: the peer side is bound to LPORT and filtered to the partner's address", () => {
    expect(socatArgv(v4, { bin: "socat", forwardTo: { host: "127.0.0.1", port: 9007 } })).toEqual([
      "socat",
      "UDP4-DATAGRAM:203.0.113.20:40002,bind=:10000,range=203.0.113.20/32",
      "UDP4:127.0.0.1:9007",
    ]);
  });

  test("no sourceport= filter: socat 1.7.4 then refuses every datagram on UDP-DATAGRAM", () => {
    expect(
      peerAddress(socatArgv(v4, { bin: "socat", forwardTo: { host: "127.0.0.1", port: 9007 } })),
    ).not.toContain("sourceport");
  });

  test("reaching the partner's service: a local listener", () => {
    expect(
      socatArgv(v4, { bin: "/usr/bin/socat", forwardListen: { host: "127.0.0.1", port: 9008 } }),
    ).toEqual([
      "/usr/bin/socat",
      "UDP4-DATAGRAM:203.0.113.20:40002,bind=:10000,range=203.0.113.20/32",
      "UDP4-LISTEN:9008,bind=127.0.0.1",
    ]);
  });

  test("forward-to wins when both are given; neither is an error", () => {
    const both = socatArgv(v4, {
      bin: "socat",
      forwardTo: { host: "127.0.0.1", port: 9007 },
      forwardListen: { host: "127.0.0.1", port: 9008 },
    });
    expect(both[2]).toBe("UDP4:127.0.0.1:9007");
    expect(() => socatArgv(v4, { bin: "socat" })).toThrow(/forwardTo or forwardListen/);
  });

  test("a specific local address is bound, the wildcard is not named", () => {
    expect(
      peerAddress(socatArgv(v4bound, { bin: "socat", forwardTo: { host: "127.0.0.1", port: 9007 } })),
    ).toBe("UDP4-DATAGRAM:203.0.113.20:40002,bind=192.0.2.10:10000,range=203.0.113.20/32");
  });

  test("IPv6: UDP6 with brackets on the partner, the bind address, the range and the local service", () => {
    expect(socatArgv(v6bound, { bin: "socat", forwardTo: { host: "::1", port: 9007 } })).toEqual([
      "socat",
      "UDP6-DATAGRAM:[2001:db8::20]:40002,bind=[2001:db8::10]:10000,range=[2001:db8::20]/128",
      "UDP6:[::1]:9007",
    ]);
    expect(socatArgv(v6, { bin: "socat", forwardListen: { host: "::1", port: 9008 } })).toEqual([
      "socat",
      "UDP6-DATAGRAM:[2001:db8::20]:40002,bind=:10000,range=[2001:db8::20]/128",
      "UDP6-LISTEN:9008,bind=[::1]",
    ]);
  });

  test("the local side's family follows the local address, not the partner's", () => {
    expect(socatArgv(v6, { bin: "socat", forwardTo: { host: "127.0.0.1", port: 9007 } })[2]).toBe(
      "UDP4:127.0.0.1:9007",
    );
    expect(socatArgv(v4, { bin: "socat", forwardListen: { host: "::1", port: 9008 } })[2]).toBe(
      "UDP6-LISTEN:9008,bind=[::1]",
    );
  });

  test("-T SECONDS only with an idle time", () => {
    const argv = socatArgv(v4, {
      bin: "socat",
      forwardTo: { host: "127.0.0.1", port: 9007 },
      idleSeconds: 30,
    });
    expect(argv.slice(0, 3)).toEqual(["socat", "-T", "30"]);
    expect(argv).toHaveLength(5);
    expect(socatArgv(v4, { bin: "socat", forwardTo: { host: "127.0.0.1", port: 9007 } })).not.toContain("-T");
  });
});

describe("exec hook and templates", () => {
  test("execArgv fills each argument on its own, no shell splitting", () => {
    expect(
      execArgv(v4, ["my-tunnel", "--to", "{rhost}:{rport}", "--from", "{lport}", "a {role} b", "{{lport}"]),
    ).toEqual(["my-tunnel", "--to", "203.0.113.20:40002", "--from", "10000", "a a b", "{lport}"]);
    expect(execArgv(v6, ["x", "{raddr}", "{laddr}"])).toEqual(["x", "[2001:db8::20]:40002", "[::]:10000"]);
  });

  test("every field fills in", () => {
    const all = TEMPLATE_FIELDS.map((f) => `{${f}}`).join("|");
    expect(fillTemplate(all, v4)).toBe(
      [
        "0.0.0.0:10000",
        "0.0.0.0",
        "10000",
        "203.0.113.20:40002",
        "203.0.113.20",
        "40002",
        "a",
        "lab-1",
        "direct",
        "public",
        "23",
        "198.51.100.10:40001",
      ].join("|"),
    );
    expect(TEMPLATE_FIELDS).toEqual([
      "laddr",
      "lhost",
      "lport",
      "raddr",
      "rhost",
      "rport",
      "role",
      "session",
      "via",
      "candidate",
      "rtt",
      "public",
    ]);
  });

  test("{{ is a literal brace; text without fields is unchanged; a shell's $VAR is left alone", () => {
    expect(fillTemplate("{{", v4)).toBe("{");
    expect(fillTemplate("{{rhost}", v4)).toBe("{rhost}");
    expect(fillTemplate("{{{rhost}", v4)).toBe("{203.0.113.20");
    expect(fillTemplate("plain } text {", v4)).toBe("plain } text {");
    expect(fillTemplate("$NETPUNCH_LPORT $HOME", v4)).toBe("$NETPUNCH_LPORT $HOME");
  });

  test("an unknown field throws in fillTemplate and is reported by templateProblem", () => {
    expect(() => fillTemplate("{rhots}", v4)).toThrow(/unknown field \{rhots\}/);
    expect(templateProblem("{rhots}:{rport}")).toMatch(/^unknown field \{rhots\} \(known: \{laddr\} /);
    expect(templateProblem("{rhost}:{rport} {{x}")).toBeUndefined();
    expect(templateProblem("no fields")).toBeUndefined();
    expect(templateProblem("{RHOST}")).toBeUndefined(); // only lowercase names are fields
    expect(fillTemplate("{RHOST}", v4)).toBe("{RHOST}");
  });

  test("resultEnv: the NETPUNCH_* names and values", () => {
    expect(resultEnv(v4)).toEqual({
      NETPUNCH_LADDR: "0.0.0.0:10000",
      NETPUNCH_LHOST: "0.0.0.0",
      NETPUNCH_LPORT: "10000",
      NETPUNCH_RADDR: "203.0.113.20:40002",
      NETPUNCH_RHOST: "203.0.113.20",
      NETPUNCH_RPORT: "40002",
      NETPUNCH_ROLE: "a",
      NETPUNCH_SESSION: "lab-1",
      NETPUNCH_VIA: "direct",
      NETPUNCH_CANDIDATE: "public",
      NETPUNCH_RTT_MS: "23",
      NETPUNCH_PUBLIC_ADDR: "198.51.100.10:40001",
    });
    expect(Object.values(resultEnv(v6)).filter((s) => typeof s !== "string")).toEqual([]);
  });
});

describe("hookSpecs and passthroughArgs", () => {
  test("print when no hook is given", () => {
    expect(hookSpecs([])).toEqual(["print"]);
    expect(hookSpecs(["--role", "a", "--server", "192.0.2.1:10001"])).toEqual(["print"]);
  });

  test("every --hook in order, both spellings", () => {
    expect(hookSpecs(["--hook", "print", "--json", "--hook=./my.ts", "--hook", "exec"])).toEqual([
      "print",
      "./my.ts",
      "exec",
    ]);
  });

  test("nothing after -- counts, and a dangling --hook is ignored", () => {
    expect(hookSpecs(["--hook", "exec", "--", "--hook", "openvpn"])).toEqual(["exec"]);
    expect(hookSpecs(["--", "--hook", "openvpn"])).toEqual(["print"]);
    expect(hookSpecs(["--hook"])).toEqual(["print"]);
  });

  test("passthroughArgs: everything after the first --, verbatim", () => {
    expect(passthroughArgs(["--hook", "exec"])).toEqual([]);
    expect(passthroughArgs(["--hook", "exec", "--"])).toEqual([]);
    expect(passthroughArgs(["--hook", "exec", "--", "sh", "-c", "echo {rhost}", "--", "x"])).toEqual([
      "sh",
      "-c",
      "echo {rhost}",
      "--",
      "x",
    ]);
  });
});

describe("the former names", () => {
  test("definePlugin, the deprecated name, is defineHook: old plugin files keep working", () => {
    const hook = { name: "old", description: "d", run() {} };
    expect(definePlugin(hook)).toBe(hook);
    expect(definePlugin).toBe(defineHook);
  });
});

describe("mergedHookArgs and checkHookOptions", () => {
  const RESERVED: ArgsDef = { role: { type: "string" }, hook: { type: "string" } };
  const alpha = defineHook({
    name: "alpha",
    description: "a",
    args: { greeting: { type: "string", default: "hello" }, loud: { type: "boolean" } },
    check: v.object({ greeting: v.pipe(v.string(), v.minLength(2, "is too short")) }),
    run() {},
  });
  const beta = defineHook({
    name: "beta",
    description: "b",
    args: { greeting: { type: "string" } },
    run() {},
  });
  const taker = (name: string, preflight?: AnyHook["preflight"]): AnyHook => ({
    name,
    description: name,
    passthrough: "a command",
    preflight,
    run() {},
  });

  test("options of several hooks are merged", () => {
    const other = defineHook({
      name: "other",
      description: "o",
      args: { count: { type: "string" } },
      run() {},
    });
    expect(Object.keys(mergedHookArgs([alpha, other], RESERVED)).sort()).toEqual([
      "count",
      "greeting",
      "loud",
    ]);
    expect(mergedHookArgs([], RESERVED)).toEqual({});
  });

  test("the same hook twice is not a conflict with itself", () => {
    expect(Object.keys(mergedHookArgs([alpha, alpha], RESERVED)).sort()).toEqual(["greeting", "loud"]);
  });

  test("two hooks defining the same option are refused, naming both", () => {
    const e = netpunchError(() => mergedHookArgs([alpha, beta], RESERVED));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe('hooks "alpha" and "beta" both define --greeting');
  });

  test("a hook may not take an option netpunch itself uses", () => {
    const bad = defineHook({ name: "bad", description: "x", args: { role: { type: "string" } }, run() {} });
    const e = netpunchError(() => mergedHookArgs([bad], RESERVED));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe('hook "bad" defines --role, which netpunch itself uses');
  });

  test("check: a failing schema is a usage error naming the option", () => {
    expect(() => checkHookOptions([alpha], parsed({ greeting: "hi" }), [])).not.toThrow();
    const e = netpunchError(() => checkHookOptions([alpha], parsed({ greeting: "x" }), []));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe("--greeting: is too short");
    expect(e.exitCode).toBe(2);
  });

  test("preflight: its problem is a usage error prefixed with the hook's name", () => {
    const h = taker("runner", ({ extraArgs }) => (extraArgs.length === 0 ? "give a command" : undefined));
    const e = netpunchError(() => checkHookOptions([h], parsed({}), []));
    expect(e.message).toBe("runner hook: give a command");
    expect(() => checkHookOptions([h], parsed({}), ["true"])).not.toThrow();
  });

  test("only the hook that declares passthrough sees the arguments after --", () => {
    const seen: Record<string, string[]> = {};
    const spy = (name: string, passthrough: boolean): AnyHook => ({
      name,
      description: name,
      ...(passthrough ? { passthrough: "x" } : {}),
      preflight({ extraArgs }) {
        seen[name] = extraArgs;
        return undefined;
      },
      run() {},
    });
    checkHookOptions([spy("plain", false), spy("taker", true)], parsed({}), ["sh", "-c", "true"]);
    expect(seen).toEqual({ plain: [], taker: ["sh", "-c", "true"] });
  });

  test("two hooks taking the arguments after -- are refused", () => {
    const e = netpunchError(() => checkHookOptions([taker("one"), taker("two")], parsed({}), ["x"]));
    expect(e.message).toBe('hooks "one" and "two" both take the arguments after --');
  });

  test("arguments after -- with no hook to take them are refused", () => {
    const e = netpunchError(() => checkHookOptions([beta], parsed({}), ["--dev", "tun"]));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe("arguments after -- (--dev tun) but no selected hook takes them");
    expect(() => checkHookOptions([beta], parsed({}), [])).not.toThrow();
  });
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: a package hook is only what is installed on disk: Bun's auto-install never fetches one", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { installedPackage } = await import("../../../src/hooks/load.ts");
  const empty = mkdtempSync(join(tmpdir(), "netpunch-noinstall-"));
  // "hello" is a real npm package; resolving it by name here would let Bun download it.
  expect(installedPackage("hello", empty)).toBeUndefined();
  const pkg = join(empty, "node_modules", "netpunch-plugin-x");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "netpunch-plugin-x", main: "main.js" }));
  writeFileSync(join(pkg, "main.js"), "export default {}\n");
  const nested = join(empty, "a", "b");
  mkdirSync(nested, { recursive: true });
  expect(installedPackage("netpunch-plugin-x", nested)).toBe(join(pkg, "main.js"));
  expect(installedPackage("../etc", empty)).toBeUndefined();
});

// Issue 8 item 13: every duration option is bounded, the built-in hooks' too (MAX_SECONDS, 24 days, as the
// CLI's). Their own check schemas, as checkHookOptions runs them, with every other option at its default.
describe("the built-in hooks' duration options are bounded by MAX_SECONDS", () => {
  const defaults = (h: AnyHook) =>
    Object.fromEntries(
      Object.entries((h.args ?? {}) as ArgsDef).flatMap(([k, d]) =>
        "default" in d && d.default !== undefined ? [[k, d.default]] : [],
      ),
    );
  test.each([
    ["wireguard", "wg-handshake-timeout", { "wg-interface": "wg0" }],
    ["wireguard", "wg-stale", { "wg-interface": "wg0" }],
    ["wireguard", "wg-silent", { "wg-interface": "wg0" }],
    ["socat-forward", "forward-idle", { "forward-to": "127.0.0.1:9" }],
  ] as const)(
    "%s --%s: MAX_SECONDS is taken, one second more is refused naming it",
    async (name, flag, need) => {
      const hook = await builtinHooks.find((b) => b.name === name)?.load();
      if (!hook?.check) throw new Error(`${name} has no check`);
      const check = (value: number) =>
        v.safeParse(hook.check as v.GenericSchema, { ...defaults(hook), ...need, [flag]: String(value) });
      expect(check(MAX_SECONDS).success).toBe(true);
      const over = check(MAX_SECONDS + 1);
      expect(over.success).toBe(false);
      expect(over.issues?.[0]?.path?.[0]?.key).toBe(flag);
      expect(over.issues?.[0]?.message).toContain("24 days");
    },
  );
});
