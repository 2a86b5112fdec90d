// The state directory's default and its private files.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connectTunnelId,
  defaultStateDir,
  keyDir,
  readIfThere,
  tunnelId,
  writePrivateFile,
  zeroConfigPlace,
} from "../../../src/hooks/state-dir.ts";

const made: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-state-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("state directory", () => {
  test.each([
    [{ STATE_DIRECTORY: "/var/lib/netpunch-x:/var/lib/other" }, 0, "/var/lib/netpunch-x"],
    [{}, 0, "/var/lib/netpunch"],
    [{ XDG_STATE_HOME: "/home/u/.st" }, 1000, "/home/u/.st/netpunch"],
    [{}, 1000, "/home/u/.local/state/netpunch"],
  ])("defaultStateDir(%o, uid %d) is %s", (env, uid, want) => {
    expect(defaultStateDir(env, uid, "/home/u")).toBe(want);
  });

  test("tunnel identities: up's CONFIG/TUNNEL, connect's connect/SESSION; keys under STATE/keys", () => {
    expect(tunnelId("home", "office")).toBe("home/office");
    expect(connectTunnelId("home-office")).toBe("connect/home-office");
    expect(keyDir("/s", "home/office")).toBe("/s/keys/home/office");
    expect(() => keyDir("/s", "connect/..")).toThrow(/is not CONFIG\/TUNNEL/);
  });

  test("a private file is written 0600 in 0700 directories, replacing the old one whole", () => {
    const state = fresh();
    const file = join(state, "keys", "home", "office", "wireguard.key");
    writePrivateFile(file, "one\n");
    writePrivateFile(file, "two\n");
    expect(readFileSync(file, "utf8")).toBe("two\n");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(state, "keys", "home")).mode & 0o777).toBe(0o700);
  });

  test("an existing file's loose mode does not survive a rewrite", () => {
    const state = fresh();
    const file = join(state, "pin");
    writeFileSync(file, "old", { mode: 0o644 });
    writePrivateFile(file, "new");
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("readIfThere: undefined for no file, its text otherwise", () => {
    const state = fresh();
    expect(readIfThere(join(state, "none"))).toBeUndefined();
    writeFileSync(join(state, "f"), "x");
    expect(readIfThere(join(state, "f"))).toBe("x");
  });

  test("zeroConfigPlace refuses a context without a state directory or tunnel", () => {
    expect(() => zeroConfigPlace("wireguard", { tunnel: "a/b" })).toThrow(/keeps its key/);
    expect(zeroConfigPlace("wireguard", { stateDir: "/s", tunnel: "a/b" })).toEqual({
      stateDir: "/s",
      tunnel: "a/b",
    });
  });
});
