// What a pairing derives (src/pair/derive.ts): the pair key, session names and the tunnel addresses.
import { describe, expect, test } from "bun:test";
import { isIP } from "node:net";
import * as v from "valibot";
import {
  codeSession,
  confirmSession,
  derivePairKey,
  ipv4Address,
  sameSubnet,
  tunnelSession,
  ulaAddress,
} from "../../../src/pair/derive.ts";
import { SessionName } from "../../../src/protocol/messages.ts";

const key1 = Uint8Array.from({ length: 32 }, (_, i) => i);
const key2 = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

describe("derivations", () => {
  test("the pair key is 32 bytes, depends on ISK and sid, and is repeatable", () => {
    const isk = new Uint8Array(64).fill(1);
    const sid = new Uint8Array(64).fill(2);
    const k = derivePairKey(isk, sid);
    expect(k.length).toBe(32);
    expect(derivePairKey(isk, sid)).toEqual(k);
    expect(derivePairKey(new Uint8Array(64).fill(3), sid)).not.toEqual(k);
    expect(derivePairKey(isk, new Uint8Array(64).fill(3))).not.toEqual(k);
  });

  test("session names are valid wire session names and differ by input", () => {
    for (const s of [codeSession(7), codeSession(999), confirmSession(999), tunnelSession(key1)])
      expect(v.is(SessionName, s)).toBe(true);
    expect(codeSession(7)).toBe("pair-v1-7");
    expect(tunnelSession(key1)).not.toBe(tunnelSession(key2));
    expect(tunnelSession(key1)).toBe(tunnelSession(Uint8Array.from(key1)));
  });

  test("ULA addresses: fd00::/8, one /64 per pair, ::1 for a and ::2 for b", () => {
    const a = ulaAddress(key1, "a");
    const b = ulaAddress(key1, "b");
    expect(a).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1\/64$/);
    expect(b).toBe(a.replace("::1/", "::2/"));
    expect(isIP(a.split("/")[0] as string)).toBe(6);
    expect(sameSubnet(a, b)).toBe(true);
    expect(ulaAddress(key2, "a")).not.toBe(a);
  });

  test("IPv4 addresses come only from a given range: a /30 of it, .1 for a and .2 for b", () => {
    const a = ipv4Address(key1, "a", "198.18.0.0/15") as string;
    const b = ipv4Address(key1, "b", "198.18.0.0/15") as string;
    expect(a).toMatch(/^198\.1[89]\.\d+\.\d+\/30$/);
    const last = (s: string) => Number(s.split("/")[0]?.split(".")[3]);
    expect(last(a) % 4).toBe(1);
    expect(last(b)).toBe(last(a) + 1);
    expect(sameSubnet(a, b)).toBe(true);
    expect(ipv4Address(key1, "a", "192.0.2.0/30")).toBe("192.0.2.1/30");
    expect(ipv4Address(key1, "a", "192.0.2.0/31")).toBeUndefined();
    expect(ipv4Address(key1, "a", "2001:db8::/64")).toBeUndefined();
    expect(ipv4Address(key1, "a", "nonsense")).toBeUndefined();
  });

  test.each([
    ["198.18.201.1/24", "198.18.201.2/24", true],
    ["198.18.201.1/24", "198.18.202.2/24", false],
    ["198.18.201.1/24", "198.18.201.1/24", false],
    ["198.18.201.1/24", "198.18.201.2/25", false],
    ["198.18.201.1/24", "fd00::2/64", false],
    ["fd12:3456:789a::1/64", "fd12:3456:789a::2/64", true],
    ["fd12:3456:789a::1/64", "fd12:3456:789b::2/64", false],
  ])("sameSubnet(%s, %s) = %p", (mine, theirs, same) => {
    expect(sameSubnet(mine, theirs)).toBe(same);
  });
});
