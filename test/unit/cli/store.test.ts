// serve --store: memory or a Redis URL, checked, the password never in what is shown.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statsLine } from "../../../src/cli/serve.ts";
import { parseStore } from "../../../src/cli/store.ts";
import type { NetpunchError } from "../../../src/errors.ts";

const file = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), "netpunch-store-")), "pw");
  writeFileSync(f, text, { mode: 0o600 });
  return f;
};
const failure = (fn: () => unknown): NetpunchError => {
  try {
    fn();
  } catch (e) {
    return e as NetpunchError;
  }
  throw new Error("expected a failure");
};

describe("parseStore", () => {
  test.each([
    ["redis://203.0.113.5:6379/0", "redis://203.0.113.5:6379/0", "redis://203.0.113.5:6379/0", false],
    ["redis://203.0.113.5", "redis://203.0.113.5:6379/0", "redis://203.0.113.5:6379/0", false],
    [
      "redis://:s3cret@203.0.113.5:6380/2",
      "redis://:s3cret@203.0.113.5:6380/2",
      "redis://:***@203.0.113.5:6380/2",
      false,
    ],
    [
      "rediss://np:s3cret@[2001:db8::5]:6380/1",
      "rediss://np:s3cret@[2001:db8::5]:6380/1",
      "rediss://np:***@[2001:db8::5]:6380/1",
      true,
    ],
  ])("%s connects to %s, is shown as %s", (text, url, where, tls) => {
    expect(parseStore(text)).toEqual({ kind: "redis", url, where, tls });
  });

  test("memory is the in-process store", () => {
    expect(parseStore("memory")).toEqual({ kind: "memory" });
  });

  test("the password file's one line goes into the URL the client uses, never into what is shown", () => {
    const choice = parseStore("redis://np@127.0.0.1:6379/0", file("p@ss:word\n"));
    expect(choice).toEqual({
      kind: "redis",
      url: "redis://np:p%40ss%3Aword@127.0.0.1:6379/0",
      where: "redis://np:***@127.0.0.1:6379/0",
      tls: false,
    });
  });

  test.each([
    ["http://127.0.0.1:6379", "the scheme is http"],
    ["redis://127.0.0.1:6379/16", 'the database is "16"'],
    ["redis://127.0.0.1:6379/x", 'the database is "x"'],
    ["redis://127.0.0.1:6379/0?password=x", "options after ?"],
    ["redis:/:s3cret@", "names no host"],
    ["mem", "neither memory nor"],
  ])("%s is refused: %s", (text, why) => {
    const e = failure(() => parseStore(text));
    expect([e.code, e.exitCode]).toEqual(["E_USAGE", 2]);
    expect(e.message).toContain(why);
  });

  test("a refused URL never shows its password", () => {
    for (const text of [
      "http://u:s3cret@127.0.0.1/",
      "redis://u:s3cret@127.0.0.1:6379/99",
      "x//u:s3cret@h",
    ]) {
      const e = failure(() => parseStore(text));
      expect(`${e.message} ${e.hint}`).not.toContain("s3cret");
    }
  });

  const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  test("--store-ca: its PEM text goes with a rediss:// store", () => {
    expect(parseStore("rediss://203.0.113.5:6380/0", undefined, file(CA))).toEqual({
      kind: "redis",
      url: "rediss://203.0.113.5:6380/0",
      where: "rediss://203.0.113.5:6380/0",
      tls: true,
      ca: CA,
    });
  });

  test.each([
    ["redis://203.0.113.5:6379/0", CA, "--store-ca is for a rediss:// (TLS) store"],
    ["memory", CA, "--store-ca needs a rediss:// store"],
    ["rediss://203.0.113.5:6380/0", "not a certificate\n", "holds no PEM certificate"],
  ])("--store %s with --store-ca is refused: %s", (store, ca, why) => {
    const e = failure(() => parseStore(store, undefined, file(ca)));
    expect([e.code, e.exitCode]).toEqual(["E_USAGE", 2]);
    expect(e.message).toContain(why);
  });

  test("--store-ca that cannot be read names the option and why", () => {
    const e = failure(() => parseStore("rediss://203.0.113.5/0", undefined, "/nonexistent/ca.pem"));
    expect(e.message).toContain("ENOENT");
    expect(e.message).toContain("--store-ca");
  });

  test("a password twice, a password file without Redis, an empty or missing file are refused", () => {
    expect(failure(() => parseStore("redis://:a@127.0.0.1/0", file("b"))).message).toContain("given twice");
    expect(failure(() => parseStore("memory", file("b"))).message).toContain("needs a redis:// store");
    expect(failure(() => parseStore("redis://127.0.0.1/0", file("\n"))).message).toContain("it is empty");
    expect(failure(() => parseStore("redis://127.0.0.1/0", "/nonexistent/pw")).message).toContain("ENOENT");
  });
});

describe("the stats line with a shared store", () => {
  const server = {
    packetsIn: 4,
    packetsOut: 2,
    pairsMade: 1,
    sessions: 3,
    dropped: { "store-down": 2 },
    relays: 0,
    relayedBytes: 0,
    stunAnswered: 0,
    matchRetransmits: 0,
    relaysOpened: 0,
    relaysRefused: { off: 0, full: 0, limit: 0 },
    relayedBytesToward: { a: 0, b: 0 },
    storeFailures: 5,
  };
  test("says whether the store is up, its operations, their mean and worst time and its errors", () => {
    expect(statsLine(server, { ops: 120, errors: 0, meanMs: 0.4251, maxMs: 3, up: true })).toBe(
      "stats: 3 sessions waiting, 1 pairs made, 4 packets in, 2 out, dropped: store-down 2; store up: 120 ops, mean 0.43 ms, max 3.00 ms, 0 errors",
    );
    expect(statsLine(server, { ops: 0, errors: 20, meanMs: 0, maxMs: 0, up: false })).toEndWith(
      "; store DOWN: 0 ops, mean 0.00 ms, max 0.00 ms, 20 errors",
    );
  });
  test("a multi-tenant server's line ends with each tenant's counts", () => {
    const tenants = { acme: { sessions: 2, pairsMade: 1 }, globex: { sessions: 1, pairsMade: 0 } };
    expect(statsLine({ ...server, tenants })).toEndWith(
      "dropped: store-down 2; tenants: acme 2 waiting, 1 pairs; globex 1 waiting, 0 pairs",
    );
  });
  test("without one (memory) the line is as before", () => {
    expect(statsLine(server)).toBe(
      "stats: 3 sessions waiting, 1 pairs made, 4 packets in, 2 out, dropped: store-down 2",
    );
  });
});
