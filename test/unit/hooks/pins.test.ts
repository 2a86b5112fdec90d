// Trust on first use: the first fingerprint is pinned (0600 in 0700 directories), the same one passes,
// another one is refused with both fingerprints, and forgetting the pin accepts the next.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetpunchError } from "../../../src/errors.ts";
import { checkPin, forgetPin, pinFile, pinnedFingerprint } from "../../../src/hooks/pins.ts";

const TUNNEL = "home/office";
const made: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-pins-"));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const mode = (path: string) => statSync(path).mode & 0o777;

describe("pins", () => {
  test("the first fingerprint is pinned at STATE/pins/CONFIG/TUNNEL, only this user's", () => {
    const state = fresh();
    expect(pinnedFingerprint(state, TUNNEL)).toBeUndefined();
    expect(checkPin(state, TUNNEL, "KEY1")).toBe("first-use");
    const file = join(state, "pins", "home", "office");
    expect(pinFile(state, TUNNEL)).toBe(file);
    expect(readFileSync(file, "utf8")).toBe("KEY1\n");
    expect([mode(file), mode(join(state, "pins")), mode(join(state, "pins", "home"))]).toEqual([
      0o600, 0o700, 0o700,
    ]);
    expect(pinnedFingerprint(state, TUNNEL)).toBe("KEY1");
    expect(readdirSync(join(state, "pins", "home"))).toEqual(["office"]); // no temporary file left
  });

  test("the same fingerprint later passes; another is refused with the tunnel and both fingerprints", () => {
    const state = fresh();
    checkPin(state, TUNNEL, "KEY1");
    expect(checkPin(state, TUNNEL, "KEY1")).toBe("same");
    let e: unknown;
    try {
      checkPin(state, TUNNEL, "KEY2");
    } catch (caught) {
      e = caught;
    }
    expect(e).toBeInstanceOf(NetpunchError);
    const err = e as NetpunchError;
    expect(err.code).toBe("E_PIN_MISMATCH");
    expect(err.message).toContain("tunnel home/office");
    expect(err.message).toContain("KEY1");
    expect(err.message).toContain("KEY2");
    expect(err.hint).not.toContain("--");
    expect(err.detail).toMatchObject({ tunnel: TUNNEL, pinned: "KEY1", offered: "KEY2" });
    expect(pinnedFingerprint(state, TUNNEL)).toBe("KEY1"); // the pin stays
  });

  test("forgetting removes the pin and says what it held; the next key is pinned anew", () => {
    const state = fresh();
    checkPin(state, TUNNEL, "KEY1");
    expect(forgetPin(state, TUNNEL)).toBe("KEY1");
    expect(forgetPin(state, TUNNEL)).toBeUndefined();
    expect(checkPin(state, TUNNEL, "KEY2")).toBe("first-use");
  });

  test("tunnels are pinned apart", () => {
    const state = fresh();
    checkPin(state, TUNNEL, "KEY1");
    expect(checkPin(state, "home/backup", "KEY2")).toBe("first-use");
    expect(checkPin(state, "connect/office", "KEY3")).toBe("first-use");
  });

  test.each(["home", "home/../etc", "../x/y", "a/b/c", "home/.", "", "home/of fice"])(
    "refuses the tunnel identity %p, so no pin lands outside STATE/pins",
    (tunnel) => {
      expect(() => checkPin(fresh(), tunnel, "KEY1")).toThrow(/is not CONFIG\/TUNNEL/);
    },
  );

  test("a pin file that holds no fingerprint is an E_STATE, not a silent first use", () => {
    const state = fresh();
    checkPin(state, TUNNEL, "KEY1");
    writeFileSync(pinFile(state, TUNNEL), "two words\n");
    expect(() => checkPin(state, TUNNEL, "KEY1")).toThrow(/not a fingerprint/);
  });
});
