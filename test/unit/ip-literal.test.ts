import { describe, expect, test } from "bun:test";
import { isIP as nodeIsIP } from "node:net";
import { isIP } from "../../src/addr.ts";

/** Literals and near misses: what users type, what sockets report, and what a parser gets wrong. */
const INPUTS = [
  "",
  "0.0.0.0",
  "127.0.0.1",
  "192.0.2.1",
  "198.51.100.255",
  "203.0.113.7",
  "255.255.255.255",
  "256.0.0.1",
  "192.0.2",
  "192.0.2.4.5",
  "0192.0.2.4",
  "192.0.2.04",
  "192.0.2.-4",
  "+192.0.2.4",
  "192.0.2.4 ",
  " 192.0.2.4",
  "1..2.3",
  "192.0.2.",
  ".192.0.2",
  "0x7f.0.0.1",
  "1e1.0.0.1",
  "999.1.1.1",
  "localhost",
  "example.com",
  "::",
  "::1",
  "1::",
  "::ffff:192.0.2.1",
  "::FFFF:198.51.100.7",
  "::ffff:256.0.0.1",
  "::ffff:192.0.2",
  "64:ff9b::192.0.2.33",
  "2001:db8::1",
  "2001:DB8::A",
  "2001:db8:0:0:0:0:0:1",
  "2001:db8:0:0:0:0:0:0:1",
  "2001:db8:0:0:0:0:1",
  "2001:db8::0:0:0:0:0:1",
  "2001:db8::0:0:0:0:1",
  "1:2:3:4:5:6:7::",
  "::1:2:3:4:5:6:7",
  "1:2:3:4:5:6:192.0.2.4",
  "1:2:3:4:5:6:7:192.0.2.4",
  "1:2:3:4:5::192.0.2.4",
  "::192.0.2.4",
  "192.0.2.4::",
  "2001:db8:::1",
  "2001:db8::1::2",
  ":1",
  "1:",
  ":::",
  "12345::1",
  "g::1",
  "fe80::1%eth0",
  "fe80::1%1",
  "fe80::1%",
  "fe80::1%eth 0",
  "fe80::1%a.b-c:d",
  "[::1]",
  "::1 ",
  "2001:db8::1/64",
  "192.0.2.4%eth0",
];

describe("isIP answers as node:net does", () => {
  test.each(INPUTS.map((s) => [JSON.stringify(s), s] as const))("%s", (_, s) => {
    expect(isIP(s)).toBe(nodeIsIP(s) as 0 | 4 | 6);
  });

  test("on addresses built from random groups and octets, with and without compression", () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const hex = () =>
      next(0x10000)
        .toString(16)
        .slice(0, 1 + next(4));
    for (let i = 0; i < 2_000; i++) {
      const v4 = [0, 0, 0, 0].map(() => String(next(300))).join(".");
      const groups = Array.from({ length: 1 + next(9) }, hex);
      const at = next(groups.length + 1);
      const v6 = next(2)
        ? groups.join(":")
        : `${groups.slice(0, at).join(":")}::${groups.slice(at).join(":")}`;
      for (const s of [v4, v6, `${v6}:${v4}`]) expect([s, isIP(s)]).toEqual([s, nodeIsIP(s) as 0 | 4 | 6]);
    }
  });
});
