import { describe, expect, test } from "bun:test";
import { closest, editDistance } from "../../../../src/cli/config/suggest.ts";

describe("did you mean", () => {
  test.each([
    ["session", "session", 0],
    ["sesion", "session", 1],
    ["sesison", "session", 1], // a swap of neighbours is one edit
    ["relay", "role", 3],
    ["", "abc", 3],
  ])("editDistance(%p, %p) = %p", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  const keys = ["session", "role", "relay-after", "wg-keepalive", "lan", "local"];
  test.each([
    ["sesion", "session"],
    ["relay_after", "relay-after"], // _ for - is no edit
    ["Role", "role"],
    ["wg-keepalve", "wg-keepalive"],
    ["relay_afer", "relay-after"],
    ["lna", "lan"],
    ["zzz", undefined],
    ["ab", undefined], // too short to be a typo of anything
    ["colour", undefined],
  ])("closest(%p) is %p", (key, near) => {
    expect(closest(key, keys)).toBe(near);
  });
});
