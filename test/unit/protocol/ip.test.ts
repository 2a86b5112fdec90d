import { describe, expect, test } from "bun:test";
import { bytesToIp, ipToBytes } from "../../../src/protocol/ip.ts";
import { toHex } from "../support.ts";

describe("ipToBytes", () => {
  const V6_ONE = "20010db8000000000000000000000001";
  // IPv4 gives 4 bytes; IPv6 16, whatever the notation; an embedded dotted quad fills the last four bytes.
  test.each([
    ["192.0.2.10", "c000020a"],
    ["203.0.113.255", "cb0071ff"],
    ["192.0.2.0", "c0000200"],
    ["2001:db8::1", V6_ONE],
    ["2001:DB8::1", V6_ONE],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", V6_ONE],
    ["2001:db8:0:0:0:0:0:1", V6_ONE],
    ["::", "0".repeat(32)],
    ["::1", `${"0".repeat(30)}01`],
    ["2001:db8::", `20010db8${"0".repeat(24)}`],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["2001:db8::198.51.100.7", "20010db80000000000000000c6336407"],
  ])("%s gives %s", (text, hex) => {
    expect(toHex(ipToBytes(text))).toBe(hex);
  });

  test("refuses what is not an IP literal", () => {
    expect(() => ipToBytes("example.net")).toThrow(TypeError);
    expect(() => ipToBytes("192.0.2.256")).toThrow(TypeError);
    expect(() => ipToBytes("")).toThrow(TypeError);
  });
});

describe("bytesToIp", () => {
  test("IPv4", () => {
    expect(bytesToIp(Uint8Array.from([198, 51, 100, 7]))).toBe("198.51.100.7");
  });

  test("IPv6 in RFC 5952 form: lowercase, no leading zeros, longest zero run compressed (first on a tie), never a single group", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"],
      ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
      ["2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1"],
      ["0000:0000:0000:0000:0000:0000:0000:0000", "::"],
      ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0000", "2001:db8::"],
      ["2001:0DB8:ABCD:0012:0000:0000:0000:0000", "2001:db8:abcd:12::"],
    ];
    for (const [full, canonical] of cases) {
      expect(bytesToIp(Uint8Array.from(Buffer.from(full.replaceAll(":", ""), "hex")))).toBe(canonical);
    }
  });

  test("round trips canonical addresses", () => {
    for (const ip of ["192.0.2.1", "2001:db8::7", "2001:db8:1:2:3:4:5:6", "::", "2001:db8:1::2:3"])
      expect(bytesToIp(ipToBytes(ip))).toBe(ip);
  });

  test("refuses other lengths", () => {
    expect(() => bytesToIp(new Uint8Array(5))).toThrow(TypeError);
    expect(() => bytesToIp(new Uint8Array(0))).toThrow(TypeError);
  });
});
