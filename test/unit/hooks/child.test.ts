// The pure parts of the hooks' child handling: the environment children get, the wireguard hook's
// privilege check and sudo command lines, the exec hook's preflight, the drain's packet test, exit codes.
import { afterEach, describe, expect, test } from "bun:test";
import exec from "../../../plugins/exec.ts";
import wireguard, { hasNetAdmin, wireguardGoArgv, withSudo } from "../../../plugins/wireguard.ts";
import { signalExitCode } from "../../../src/cli/runtime.ts";
import { isNetpunchPacket } from "../../../src/hooks/drain.ts";
import { argvCarriesSecret, childEnv, forgetSecretsForTest, withholdSecret } from "../../../src/hooks/env.ts";

afterEach(() => {
  forgetSecretsForTest();
  delete process.env.NETPUNCH_SECRET;
  delete process.env.NP_UNIT_COPY;
});

describe("childEnv", () => {
  test("drops NETPUNCH_SECRET and any variable carrying the secret, from children and from process.env", () => {
    const secret = "unit-secret-abcdefgh";
    process.env.NETPUNCH_SECRET = secret;
    process.env.NP_UNIT_COPY = `x${secret}y`;
    withholdSecret(secret);
    expect(process.env.NETPUNCH_SECRET).toBeUndefined();
    expect(process.env.NP_UNIT_COPY).toBeUndefined();
    process.env.NP_UNIT_COPY = secret; // set again after the fact: children still do not get it
    const env = childEnv({ NETPUNCH_LPORT: "10000" });
    expect(env.NETPUNCH_SECRET).toBeUndefined();
    expect(env.NP_UNIT_COPY).toBeUndefined();
    expect(env.NETPUNCH_LPORT).toBe("10000");
    expect(env.PATH).toBe(process.env.PATH ?? "");
  });

  test("a short secret is dropped only where it is the whole value (it would occur inside PATH by chance)", () => {
    withholdSecret("bin");
    process.env.NP_UNIT_COPY = "bin";
    const env = childEnv();
    expect(env.NP_UNIT_COPY).toBeUndefined();
    expect(env.PATH).toBe(process.env.PATH ?? "");
  });

  test("argvCarriesSecret", () => {
    withholdSecret("unit-secret-abcdefgh");
    expect(argvCarriesSecret(["openvpn", "--remote", "198.51.100.7"])).toBe(false);
    expect(argvCarriesSecret(["sh", "-c", "echo unit-secret-abcdefgh"])).toBe(true);
  });
});

describe("wireguard hook: privileges", () => {
  test.each([
    ["root", "CapEff:\t000001ffffffffff", true],
    ["CAP_NET_ADMIN only", "CapEff:\t0000000000001000", true],
    ["an ordinary user", "CapEff:\t0000000000000000", false],
    ["everything but CAP_NET_ADMIN", "CapEff:\t000001ffffffefff", false],
    ["no CapEff line", "Name:\tbun", false],
  ])("hasNetAdmin: %s", (_name, status, want) => {
    expect(hasNetAdmin(`Name:\tbun\n${status}\nCapBnd:\t000001ffffffffff\n`)).toBe(want);
  });

  test("--wg-sudo: every command through sudo -n; wireguard-go in the foreground with -f (sudo drops the env)", () => {
    expect(withSudo(wireguardGoArgv("wg0"), true)).toEqual(["sudo", "-n", "wireguard-go", "-f", "wg0"]);
    expect(withSudo(["wg", "show", "wg0", "latest-handshakes"], false)).toEqual([
      "wg",
      "show",
      "wg0",
      "latest-handshakes",
    ]);
  });

  test("--wg-sudo is an option of the hook", () => {
    expect(wireguard.args?.["wg-sudo"]?.type).toBe("boolean");
  });
});

describe("exec hook preflight", () => {
  const pre = (extraArgs: string[]) =>
    exec.preflight?.({ args: { _: [], "exec-replace": false } as never, extraArgs });

  test("a program that is not installed is a problem before any packet", () => {
    expect(pre(["netpunch-no-such-program", "{rhost}"])).toBe("netpunch-no-such-program not found in PATH");
    expect(pre(["/nonexistent/tunnel"])).toBe("/nonexistent/tunnel is not an executable file");
  });

  test("an installed program, or one named by a template, passes", () => {
    expect(pre(["sh", "-c", "true"])).toBeUndefined();
    expect(pre(["./{role}-tunnel"])).toBeUndefined();
  });
});

describe("isNetpunchPacket", () => {
  const packet = (bytes: number[], len = 40) => Uint8Array.from({ length: len }, (_, i) => bytes[i] ?? 0);
  test.each([
    ["NP v2, header + MAC long", packet([0x4e, 0x50, 0x02, 0x05]), true],
    ["NP v1 (an old peer)", packet([0x4e, 0x50, 0x01, 0x05]), false],
    ["NP v2 but shorter than header + MAC", packet([0x4e, 0x50, 0x02], 39), false],
    ["application data", new TextEncoder().encode("msg 0 and some more bytes to be long enough"), false],
  ])("%s", (_name, data, want) => {
    expect(isNetpunchPacket(data)).toBe(want);
  });
});

test("signalExitCode: 128 + the signal's number", () => {
  expect([signalExitCode("SIGINT"), signalExitCode("SIGTERM")]).toEqual([130, 143]);
});
