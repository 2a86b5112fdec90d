// netpunch pair's refusals that come before any packet (exit 2, nothing written), run in this process.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cliSuite, runCli } from "../../support/cli.ts";

const dir = cliSuite("netpunch-pair-cli-");
const secret = join(dir, "secret");
writeFileSync(secret, "s".repeat(43), { mode: 0o600 });
// A server address nothing listens on: none of these runs may get as far as sending.
const base = (name: string, more: string[] = []) => [
  "pair",
  "--server",
  "127.0.0.1:9",
  "--secret-file",
  secret,
  "--name",
  name,
  "--config",
  join(dir, name, "c.toml"),
  "--state-dir",
  join(dir, name, "state"),
  ...more,
];

describe("netpunch pair refuses before any packet", () => {
  test.each([
    ["a name that is not a file name", base("../x"), '--name "../x" is not a usable name'],
    [
      "a hook that cannot be paired",
      base("h", ["--hook", "socat-forward"]),
      "--hook socat-forward cannot be paired",
    ],
    ["4 words", base("w", ["--words", "4"]), "--words 4 is neither 2 nor 3"],
    [
      "an address without a prefix",
      base("ad", ["--address", "198.18.201.1"]),
      "is not an address with a prefix",
    ],
    [
      "openvpn on IPv6",
      base("ov6", ["--hook", "openvpn", "--address", "fd00::1/64"]),
      "openvpn tunnels take IPv4",
    ],
    [
      "openvpn with no IPv4 source",
      base("ov", ["--hook", "openvpn"]),
      "an openvpn tunnel needs IPv4 addresses",
    ],
    ["a bad range", base("r", ["--ipv4-range", "198.18.0.0/31"]), "is not an IPv4 range of at least a /30"],
    ["a malformed code", base("c", ["7-guitar"]), "[E_CODE]"],
    ["a mistyped word", base("t", ["7-gitar-meadow"]), 'did you mean "guitar"?'],
  ])("%s", async (_what, argv, says) => {
    const r = await runCli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(says);
    expect(existsSync(join(dir, argv[6] as string))).toBe(false);
  });

  test("an existing config is never replaced", async () => {
    mkdirSync(join(dir, "taken"), { recursive: true });
    writeFileSync(join(dir, "taken", "c.toml"), "# mine\n");
    const r = await runCli(...base("taken"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("already exists; pairing never replaces a config");
    expect(readdirSync(join(dir, "taken"))).toEqual(["c.toml"]);
  });

  test("a tunnel that already has a pin is refused, pointing at forget", async () => {
    // The config is c.toml, so up (and pair) know the tunnel as c/pinned.
    mkdirSync(join(dir, "pinned", "state", "pins", "c"), { recursive: true });
    writeFileSync(join(dir, "pinned", "state", "pins", "c", "pinned"), "Xb4=\n");
    const r = await runCli(...base("pinned"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("already has a pinned partner key");
    expect(r.err).toContain("netpunch forget c pinned");
    expect(existsSync(join(dir, "pinned", "c.toml"))).toBe(false);
  });
});
