import { describe, expect, test } from "bun:test";
import { formatEndpoint, isLoopback, normalizeHost, parseAddress, sameEndpoint } from "../../src/addr.ts";
import { netpunchError } from "./support.ts";

describe("parseAddress: good input", () => {
  const good: [string, { host: string; port: number }][] = [
    ["198.51.100.7:10001", { host: "198.51.100.7", port: 10001 }],
    ["[2001:db8::1]:10001", { host: "2001:db8::1", port: 10001 }],
    ["[::ffff:192.0.2.1]:80", { host: "::ffff:192.0.2.1", port: 80 }],
    ["example.net:10001", { host: "example.net", port: 10001 }],
    ["rendezvous-1.example.net.:1", { host: "rendezvous-1.example.net.", port: 1 }],
    ["localhost:65535", { host: "localhost", port: 65535 }],
    ["127.0.0.1:00080", { host: "127.0.0.1", port: 80 }],
  ];
  for (const [input, want] of good) {
    test(input, () => {
      expect(parseAddress(input, "server address")).toEqual(want);
    });
  }

  test("an empty host and port 0 only when allowed", () => {
    const local = { allowEmptyHost: true, allowPortZero: true };
    expect(parseAddress(":10000", "local address", local)).toEqual({ host: "", port: 10000 });
    expect(parseAddress(":0", "local address", local)).toEqual({ host: "", port: 0 });
    expect(parseAddress("0.0.0.0:0", "local address", local)).toEqual({ host: "0.0.0.0", port: 0 });
    expect(parseAddress("[::]:0", "local address", local)).toEqual({ host: "::", port: 0 });
    expect(parseAddress(":10001", "listen address", { allowEmptyHost: true })).toEqual({
      host: "",
      port: 10001,
    });
  });
});

describe("parseAddress: bad input names the argument and says why", () => {
  const bad: [string, string, string][] = [
    ["198.51.100.7", "server address", "the port is missing"],
    ["", "server address", "the port is missing"],
    ["2001:db8::1:10001", "server address", "write IPv6 addresses in brackets"],
    ["[2001:db8::1]10001", "server address", "an IPv6 address needs the form [addr]:port"],
    ["[2001:db8::1", "server address", "an IPv6 address needs the form [addr]:port"],
    ["[198.51.100.7]:10001", "server address", '"198.51.100.7" is not an IPv6 address'],
    ["[]:10001", "server address", '"" is not an IPv6 address'],
    ["198.51.100.7:abc", "server address", 'port "abc" is not a number'],
    ["198.51.100.7:", "server address", 'port "" is not a number'],
    ["198.51.100.7:-1", "server address", 'port "-1" is not a number'],
    ["198.51.100.7:123456", "server address", 'port "123456" is not a number'],
    ["198.51.100.7:65536", "server address", "port 65536 is out of range (1-65535)"],
    ["198.51.100.7:0", "server address", "port 0 is out of range (1-65535)"],
    [":10001", "server address", "the host is missing"],
    ["bad_host:10001", "server address", '"bad_host" is neither an IP address nor a host name'],
    ["-x.example:10001", "server address", '"-x.example" is neither an IP address nor a host name'],
    ["a..b:10001", "server address", '"a..b" is neither an IP address nor a host name'],
    ["host name:10001", "server address", '"host name" is neither an IP address nor a host name'],
    ["198.51.100.7:10001 ", "server address", 'port "10001 " is not a number'],
  ];
  for (const [input, what, why] of bad) {
    test(JSON.stringify(input), () => {
      const e = netpunchError(() => parseAddress(input, what));
      expect(e.code).toBe("E_ADDRESS");
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(`${what} "${input}" is not a valid address: ${why}`);
      expect(e.hint).toContain("e.g.");
    });
  }

  test("the argument's name is whatever the caller passes", () => {
    expect(
      netpunchError(() => parseAddress("nope", "local address", { allowEmptyHost: true })).message,
    ).toStartWith('local address "nope"');
    expect(netpunchError(() => parseAddress("nope", "listen address")).message).toStartWith(
      'listen address "nope"',
    );
  });

  test("the hint's examples fit the kind of address", () => {
    expect(netpunchError(() => parseAddress("nope", "server address")).hint).toContain("198.51.100.7:10001");
    expect(
      netpunchError(() => parseAddress("nope", "local address", { allowEmptyHost: true })).hint,
    ).toContain(":10000");
  });

  test("port 0 is refused unless allowed, even with an empty host allowed", () => {
    expect(
      netpunchError(() => parseAddress(":0", "listen address", { allowEmptyHost: true })).message,
    ).toContain("port 0 is out of range");
  });
});

describe("endpoint helpers", () => {
  test("formatEndpoint brackets IPv6 only", () => {
    expect(formatEndpoint({ host: "198.51.100.7", port: 1 })).toBe("198.51.100.7:1");
    expect(formatEndpoint({ host: "2001:db8::1", port: 10001 })).toBe("[2001:db8::1]:10001");
    expect(formatEndpoint({ host: "example.net", port: 2 })).toBe("example.net:2");
  });

  test("normalizeHost strips the IPv4-mapped prefix and lowercases", () => {
    expect(normalizeHost("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(normalizeHost("::FFFF:192.0.2.1")).toBe("192.0.2.1");
    expect(normalizeHost("2001:DB8::1")).toBe("2001:db8::1");
    expect(normalizeHost("::ffff:2001:db8")).toBe("::ffff:2001:db8");
  });

  test("sameEndpoint compares normalized hosts and ports", () => {
    expect(sameEndpoint({ host: "::ffff:192.0.2.1", port: 5 }, { host: "192.0.2.1", port: 5 })).toBe(true);
    expect(sameEndpoint({ host: "2001:DB8::1", port: 5 }, { host: "2001:db8::1", port: 5 })).toBe(true);
    expect(sameEndpoint({ host: "192.0.2.1", port: 5 }, { host: "192.0.2.1", port: 6 })).toBe(false);
    expect(sameEndpoint({ host: "192.0.2.1", port: 5 }, { host: "192.0.2.2", port: 5 })).toBe(false);
  });

  test("isLoopback", () => {
    expect(isLoopback("127.0.0.1")).toBe(true);
    expect(isLoopback("127.3.2.1")).toBe(true);
    expect(isLoopback("::1")).toBe(true);
    expect(isLoopback("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopback("198.51.100.7")).toBe(false);
    expect(isLoopback("2001:db8::1")).toBe(false);
    expect(isLoopback("127.example.net")).toBe(false);
  });
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: a dotted number that is not an IPv4 address is refused, not resolved to another host", () => {
  expect(() => parseAddress("1.2.3:10001", "server address")).toThrow('"1.2.3" is not a valid IPv4 address');
});
