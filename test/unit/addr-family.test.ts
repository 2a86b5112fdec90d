import { describe, expect, test } from "bun:test";
import { checkSameFamily, ipFamily, parseAddress } from "../../src/addr.ts";
import { cli } from "../../src/cli/main.ts";
import { NetpunchError } from "../../src/errors.ts";
import { connect } from "../../src/punch/connect.ts";
import { captureOutput } from "./support.ts";

const T = 5000;
const local = (s: string) => parseAddress(s, "local address", { allowEmptyHost: true, allowPortZero: true });
const server = (s: string) => parseAddress(s, "server address");

describe("ipFamily", () => {
  test.each([
    ["127.0.0.1", 4],
    ["::1", 6],
    ["::", 6],
    ["::ffff:198.51.100.7", 4],
    ["", undefined],
    ["server.example", undefined],
  ])("%j -> %p", (host, family) => expect(ipFamily(host)).toBe(family as 4 | 6 | undefined));
});

describe("checkSameFamily", () => {
  test.each([
    ["[::1]:10000", "198.51.100.7:10001", "IPv6", "IPv4"],
    ["[2001:db8::2]:0", "127.0.0.1:9", "IPv6", "IPv4"],
    ["0.0.0.0:10000", "[2001:db8::1]:10001", "IPv4", "IPv6"],
    ["127.0.0.1:0", "[::1]:9", "IPv4", "IPv6"],
  ])("local %s, server %s: E_ADDRESS naming both addresses and families", (l, s, lf, sf) => {
    let err: unknown;
    try {
      checkSameFamily(local(l), server(s));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetpunchError);
    const e = err as NetpunchError;
    expect(e.code).toBe("E_ADDRESS");
    expect(e.message).toContain(l);
    expect(e.message).toContain(s);
    expect(e.message).toContain(`is ${lf} but the server`);
    expect(e.message).toContain(`is ${sf}`);
    expect(e.hint).toContain(`use an ${sf} local address`);
  });

  test.each([
    [":10000", "198.51.100.7:10001"], // any: the family follows the server
    [":0", "[::1]:9"],
    ["[::]:10000", "198.51.100.7:10001"], // dual-stack reaches IPv4
    ["[::]:0", "[::1]:9"],
    ["127.0.0.1:0", "127.0.0.1:9"],
    ["[::1]:0", "[::1]:9"],
    ["[::ffff:127.0.0.1]:0", "127.0.0.1:9"],
    ["[::1]:0", "server.example:10001"], // a host name is checked once resolved
  ])("local %s, server %s: fine", (l, s) => {
    expect(() => checkSameFamily(local(l), server(s))).not.toThrow();
  });
});

describe("a family mismatch fails at once, before any packet", () => {
  test.each([
    ["[::1]:0", "127.0.0.1:9"],
    ["127.0.0.1:0", "[::1]:9"],
  ])(
    "netpunch connect --local %s --server %s: exit 2, E_ADDRESS, not a silent server 10 s later",
    async (l, s) => {
      process.env.NETPUNCH_SECRET ??= "k".repeat(43);
      const { value, err } = await captureOutput(() =>
        cli(["connect", "--role", "a", "--server", s, "--local", l, "--port-map"]),
      );
      expect(value).toBe(2);
      expect(err).toMatch(/^\[E_ADDRESS\] local address .* is IPv\d but the server .* is IPv\d/m);
      expect(err).toMatch(/^hint: /m);
      expect(err).not.toContain("gateway"); // --port-map asked nothing either
    },
    T,
  );

  test(
    "the library's connect() too, with E_ADDRESS and no event",
    async () => {
      const events: string[] = [];
      const err = await connect({
        server: "127.0.0.1:9",
        local: "[::1]:0",
        secret: "k".repeat(43),
        role: "a",
        onEvent: (e) => events.push(e.type),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetpunchError);
      expect((err as NetpunchError).code).toBe("E_ADDRESS");
      expect(events).toEqual([]);
    },
    T,
  );
});
