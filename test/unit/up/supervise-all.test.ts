import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetpunchError } from "../../../src/errors.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import { ADDRESS_POLL_MS, type InterfaceTable, watchAddresses } from "../../../src/up/addresses.ts";
import { readStatus } from "../../../src/up/status-client.ts";
import { parseStatusDocument, statusDocument } from "../../../src/up/status-document.ts";
import { serveStatus } from "../../../src/up/status-server.ts";
import { type ProxyStatus, superviseAll } from "../../../src/up/supervise-all.ts";
import { FakeJob, RESULT, settle, T0 } from "./support.ts";

describe("superviseAll: several tunnels in one process, each on its own", () => {
  test("one tunnel failing, one job throwing and a throwing callback leave the others up; rows in order", async () => {
    const clock = new ManualClock(T0);
    const office = new FakeJob();
    const backup = new FakeJob();
    const nas = new FakeJob();
    const listeners = new Set<() => void>();
    const s = superviseAll({
      clock,
      tunnels: [
        { name: "office", session: "home-office", role: "a", job: office, partnerKey: () => "SHA256:abc" },
        { name: "backup", session: "nas-backup", role: "b", job: backup },
        {
          name: "broken",
          session: "s3",
          role: "a",
          job: {
            punch: () => {
              throw new Error("a hook's bug");
            },
            tunnel: async () => {},
          },
          partnerKey: () => {
            throw new Error("unreadable pin store");
          },
        },
        { name: "nas", session: "nas", role: "b", job: nas },
      ],
      addressChanges: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      onStatus: (name) => {
        if (name === "nas") throw new Error("a logger's bug");
      },
    });
    office.lastPunch.resolve(RESULT);
    backup.lastPunch.reject(new NetpunchError("E_SECRET", "the secret is empty"));
    nas.lastPunch.resolve(RESULT);
    await settle();
    expect(s.rows().map((r) => [r.name, r.state])).toEqual([
      ["office", "up"],
      ["backup", "failed"],
      ["broken", "failed"],
      ["nas", "up"],
    ]);
    expect(s.rows()[0]).toMatchObject({
      session: "home-office",
      role: "a",
      partnerKey: "SHA256:abc",
      path: "direct",
    });
    expect(s.rows()[2]?.partnerKey).toBeUndefined();
    // An address change reaches every live tunnel: both up ones re-punch, the failed ones stay.
    for (const l of listeners) l();
    await settle();
    expect([office.punches.length, backup.punches.length, nas.punches.length]).toEqual([2, 1, 2]);
    // The failed one is retried alone.
    s.retry("backup");
    expect(backup.punches.length).toBe(2);
    expect(office.punches.length).toBe(2);
    await s.stop();
    expect(s.rows().every((r) => r.state === "stopped")).toBe(true);
    expect(listeners.size).toBe(0);
    expect([office, backup, nas].map((j) => j.running)).toEqual([0, 0, 0]);
    await s.done;
  });
});

describe("superviseAll's rows through the status socket", () => {
  test("what the supervisor reports is a valid status document, read back as it was served", async () => {
    const clock = new ManualClock(T0);
    const office = new FakeJob();
    const backup = new FakeJob();
    const s = superviseAll({
      clock,
      tunnels: [
        { name: "office", session: "home-office", role: "a", job: office, partnerKey: () => "SHA256:abc" },
        { name: "backup", session: "nas-backup", role: "b", job: backup },
      ],
    });
    office.lastPunch.resolve(RESULT);
    backup.lastPunch.reject(new NetpunchError("E_SERVER_SILENT", "no answer from the server"));
    await settle();
    const dir = mkdtempSync(join(tmpdir(), "np-rows-"));
    const server = await serveStatus({
      runtimeDir: dir,
      config: "home",
      document: () => statusDocument("home", s.rows(), clock.now()),
    });
    try {
      const doc = await readStatus(server.path);
      expect(doc.tunnels).toEqual(s.rows());
      expect(doc.tunnels.map((t) => [t.name, t.state, t.lastError?.code])).toEqual([
        ["office", "up", undefined],
        ["backup", "backing-off", "E_SERVER_SILENT"],
      ]);
      expect(doc).toMatchObject({ version: 1, config: "home", pid: process.pid, now: T0 });
    } finally {
      server.close();
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("superviseAll: a proxy-mode tunnel's row", () => {
  test("while up it carries the proxy's live counts, and its remote is the proxy's (after a rebinding)", async () => {
    const clock = new ManualClock(T0);
    const job = new FakeJob();
    let live: ProxyStatus | undefined;
    const s = superviseAll({
      clock,
      tunnels: [{ name: "office", session: "home-office", role: "a", job, proxy: () => live }],
    });
    live = { packetsIn: 1, packetsOut: 1, bytesIn: 1, bytesOut: 1, moves: 0, remote: "198.51.100.7:1" };
    // Not up yet: a proxy left from nothing is not shown.
    expect(s.rows()[0]?.proxy).toBeUndefined();
    job.lastPunch.resolve(RESULT);
    await settle();
    live = undefined;
    expect(s.rows()[0]).toMatchObject({ state: "up", remote: RESULT.raddr });
    expect(s.rows()[0]?.proxy).toBeUndefined();
    live = {
      packetsIn: 3,
      packetsOut: 4,
      bytesIn: 300,
      bytesOut: 400,
      moves: 1,
      remote: "198.51.100.7:41000",
    };
    const row = s.rows()[0];
    expect(row?.remote).toBe("198.51.100.7:41000");
    expect(row?.proxy).toEqual({ packetsIn: 3, packetsOut: 4, bytesIn: 300, bytesOut: 400, moves: 1 });
    // Counted on: each read is the proxy's count of that moment.
    live = { ...live, packetsOut: 5, bytesOut: 500 };
    expect(s.rows()[0]?.proxy).toMatchObject({ packetsOut: 5, bytesOut: 500 });
    // The row survives the status document's round trip, proxy and all.
    const doc = parseStatusDocument(JSON.stringify(statusDocument("home", s.rows(), clock.now())));
    expect(doc?.tunnels).toEqual(s.rows());
    await s.stop();
  });
});

describe("superviseAll: the row's path follows the proxy", () => {
  test.each([
    ["direct", "relay", false, "relay"],
    ["relay", "direct", false, "direct"],
    ["lan", "direct", false, "lan"],
    ["relay", "relay", false, "relay"],
    ["relay", "relay", true, "ws-relay"],
  ] as const)(
    "punched %s, the proxy now on %s (over a WebSocket: %p): the row says %s",
    async (via, now, websocket, shown) => {
      const clock = new ManualClock(T0);
      const job = new FakeJob();
      const live: ProxyStatus = {
        packetsIn: 0,
        packetsOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        moves: 0,
        remote: "198.51.100.7:41000",
        path: now,
        switches: 1,
        lastSwitch: { at: T0, to: now, reason: "3 probes answered in a row" },
        relayReady: true,
        ...(websocket ? { websocket: true } : {}),
      };
      const s = superviseAll({
        clock,
        tunnels: [{ name: "office", session: "home-office", role: "a", job, proxy: () => live }],
      });
      job.lastPunch.resolve({ ...RESULT, via });
      await settle();
      const row = s.rows()[0];
      expect(row?.path).toBe(shown);
      expect(row?.proxy).toMatchObject({ path: now, switches: 1, relayReady: true });
      // The new fields survive the status document's round trip.
      const doc = parseStatusDocument(JSON.stringify(statusDocument("home", s.rows(), clock.now())));
      expect(doc?.tunnels).toEqual(s.rows());
      await s.stop();
    },
  );
});

describe("parseStatusDocument: the optional proxy field", () => {
  const row = { name: "t", session: "s", role: "a", state: "up", since: T0, rounds: 1, repunches: 0 };
  const docOf = (r: object) => JSON.stringify({ version: 1, config: "home", pid: 7, now: T0, tunnels: [r] });
  const PROXY = { packetsIn: 1, packetsOut: 2, bytesIn: 30, bytesOut: 40, moves: 0 };

  test("a row without it parses (an `up` from before it), one with it keeps it", () => {
    expect(parseStatusDocument(docOf(row))?.tunnels[0]?.proxy).toBeUndefined();
    expect(parseStatusDocument(docOf({ ...row, proxy: PROXY }))?.tunnels[0]?.proxy).toEqual(PROXY);
  });

  test("a count that is negative, fractional or missing, or an unknown path, is no status document", () => {
    for (const bad of [
      { ...PROXY, bytesIn: -1 },
      { ...PROXY, moves: 0.5 },
      { packetsIn: 1 },
      { ...PROXY, path: "carrier-pigeon" },
      { ...PROXY, switches: -1 },
    ])
      expect(parseStatusDocument(docOf({ ...row, proxy: bad }))).toBeUndefined();
  });
});

describe("superviseAll with the address watcher on one fake clock", () => {
  test("a new address on the host re-punches every live tunnel at the next poll; the tunnels' own do not", async () => {
    const clock = new ManualClock(T0);
    const address = (a: string) => [
      { address: a, netmask: "255.255.255.0", family: "IPv4" as const, mac: "", internal: false, cidr: null },
    ];
    let table: InterfaceTable = { eth0: address("198.51.100.20") };
    const watcher = watchAddresses({ clock, interfaces: () => table, ignore: (n) => n.startsWith("np-") });
    const office = new FakeJob();
    const nas = new FakeJob();
    const s = superviseAll({
      clock,
      tunnels: [
        { name: "office", session: "home-office", role: "a", job: office },
        { name: "nas", session: "nas", role: "b", job: nas },
      ],
      addressChanges: watcher.subscribe,
    });
    office.lastPunch.resolve(RESULT);
    nas.lastPunch.resolve(RESULT);
    await settle();
    // The tunnels' interfaces appear: no re-punch.
    table = { eth0: address("198.51.100.20"), "np-office": address("198.18.201.1") };
    clock.advanceTo(T0 + 3 * ADDRESS_POLL_MS);
    await settle();
    expect([office.punches.length, nas.punches.length]).toEqual([1, 1]);
    // The uplink moves to another network: both re-punch.
    table = { eth0: address("203.0.113.50"), "np-office": address("198.18.201.1") };
    clock.advanceTo(T0 + 4 * ADDRESS_POLL_MS);
    await settle();
    expect([office.punches.length, nas.punches.length]).toEqual([2, 2]);
    expect(s.rows().map((r) => r.repunches)).toEqual([1, 1]);
    await s.stop();
    watcher.close();
    expect(clock.size).toBe(0);
  });
});
