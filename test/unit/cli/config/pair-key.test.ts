// A paired tunnel's pair key in an up config (issue 15): `pair_key_file` becomes connect's --pair-key-file,
// resolved beside the config, which peerOptions reads into connect({ pairKey }); a missing or malformed
// file is a clear E_SECRET; the hyphenated spelling is pointed to the right key.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ParsedArgs, parseArgs } from "citty";
import { checkArgs } from "../../../../src/cli/common.ts";
import type { TunnelConfig } from "../../../../src/cli/config/types.ts";
import { connectArgs, peerOptions } from "../../../../src/cli/connect.ts";
import { readPairKey } from "../../../../src/cli/pair-key.ts";
import type { NetpunchError } from "../../../../src/errors.ts";
import { configDir, TOP } from "./fixture.ts";

const c = configDir();
afterAll(() => c.remove());

const TUNNEL = '[tunnel.office]\nrole = "a"\nsession = "home-office"\n';
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 3);
writeFileSync(join(c.dir, "office.pair.key"), `${Buffer.from(KEY).toString("base64")}\n`, { mode: 0o600 });

/** peerOptions of the tunnel's argv parsed as connect parses it. */
function asConnectRuns(t: TunnelConfig) {
  const argv = ["--server", t.servers[0] ?? "198.51.100.7:10001", ...t.argv];
  checkArgs(argv, connectArgs);
  const args = parseArgs(argv, connectArgs) as ParsedArgs<typeof connectArgs>;
  return peerOptions(args, new Uint8Array(32), t.servers);
}

const thrown = (fn: () => unknown): NetpunchError => {
  try {
    fn();
  } catch (e) {
    return e as NetpunchError;
  }
  throw new Error("did not throw");
};

describe("pair_key_file in an up config", () => {
  test("relative to the config: --pair-key-file with the absolute path, read into the pair key", async () => {
    const config = await c.load(`${TOP}\n${TUNNEL}pair_key_file = "office.pair.key"\n`);
    const t = config.tunnels[0] as TunnelConfig;
    const file = join(c.dir, "office.pair.key");
    expect(t.argv.slice(8)).toEqual(["--pair-key-file", file]);
    expect(asConnectRuns(t).pairKey).toEqual(KEY);
  });

  test("without it, no pair key (the secret authenticates everything, as before)", async () => {
    const config = await c.load(`${TOP}\n${TUNNEL}`);
    const t = config.tunnels[0] as TunnelConfig;
    expect(t.argv).not.toContain("--pair-key-file");
    expect(asConnectRuns(t).pairKey).toBeUndefined();
  });

  test("the hyphenated connect spelling is refused, naming pair_key_file", async () => {
    expect(await c.why(`${TOP}\n${TUNNEL}pair-key-file = "office.pair.key"\n`)).toContain('"pair_key_file"');
  });

  test("an empty path is refused", async () => {
    expect(await c.why(`${TOP}\n${TUNNEL}pair_key_file = ""\n`)).toContain("pair_key_file");
  });
});

describe("readPairKey", () => {
  test("a missing file: E_SECRET naming it", () => {
    const file = join(c.dir, "none.key");
    const e = thrown(() => readPairKey(file));
    expect(e.code).toBe("E_SECRET");
    expect(e.message).toContain(file);
    expect(e.message).toContain("no such file");
  });

  test.each([
    ["not base64", "not a key at all!"],
    ["16 bytes", Buffer.alloc(16, 7).toString("base64")],
    ["33 bytes", Buffer.alloc(33, 7).toString("base64")],
  ])("a file that is %s: E_SECRET, and its text is not in the message", (_, text) => {
    const file = join(c.dir, "bad.key");
    writeFileSync(file, `${text}\n`, { mode: 0o600 });
    const e = thrown(() => readPairKey(file));
    expect(e.code).toBe("E_SECRET");
    expect(e.message).not.toContain(text);
  });
});
