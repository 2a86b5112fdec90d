import { describe, expect, test } from "bun:test";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { bytes, duration, statusText } from "../../../src/cli/status.ts";
import type { StatusDocument } from "../../../src/up/status-document.ts";
import { serveStatus } from "../../../src/up/status-server.ts";
import { cliSuite, runCli } from "../../support/cli.ts";

const dir = cliSuite("netpunch-status-test-");
const MAIN = join(import.meta.dir, "../../../src/cli/main.ts");
const T0 = 1_700_000_000_000;

const doc = (config: string, tunnels: StatusDocument["tunnels"]): StatusDocument => ({
  version: 1,
  config,
  pid: 4242,
  now: T0,
  tunnels,
});

const HOME = doc("home", [
  {
    name: "office",
    session: "home-office",
    role: "a",
    state: "up",
    since: T0 - 3_725_000,
    path: "direct",
    local: "0.0.0.0:51820",
    remote: "203.0.113.9:40000",
    rttMs: 12,
    upSince: T0 - 3_725_000,
    rounds: 3,
    repunches: 2,
    partnerKey: "SHA256:2f1a",
  },
  {
    name: "backup",
    session: "nas-backup",
    role: "b",
    state: "failed",
    since: T0 - 10_000,
    rounds: 1,
    repunches: 0,
    lastError: { code: "E_PIN_MISMATCH", message: "the partner's key changed" },
  },
  {
    name: "lab",
    session: "lab",
    role: "a",
    state: "backing-off",
    since: T0,
    retryAt: T0 + 4_200,
    rounds: 4,
    repunches: 0,
  },
]);

describe("statusText: a table a person reads", () => {
  test("one row per tunnel under its config, with the columns of the README", () => {
    expect(statusText([HOME], T0)).toBe(
      [
        "home (pid 4242):",
        "  tunnel  state              path    remote             rtt    up since           rounds            last error",
        "  office  up                 direct  203.0.113.9:40000  12 ms  21:11:15Z (1h02m)  3 (2 re-punches)  -",
        "  backup  failed             -       -                  -      -                  1                 [E_PIN_MISMATCH] the partner's key changed",
        "  lab     backing off (5 s)  -       -                  -      -                  4                 -",
        "",
      ].join("\n"),
    );
  });

  test("a config with a proxied tunnel gets a proxy traffic column; its other tunnels show -", () => {
    const [office, backup] = HOME.tunnels;
    if (!office || !backup) throw new Error("fixture");
    const proxied = doc("home", [
      { ...office, proxy: { packetsIn: 10, packetsOut: 12, bytesIn: 980, bytesOut: 1_536, moves: 1 } },
      backup,
    ]);
    const lines = statusText([proxied], T0).split("\n");
    expect(lines[1]).toMatch(/ rounds +proxy traffic +last error$/);
    expect(lines[2]).toContain("3 (2 re-punches)  out 12 (1.5 KiB), in 10 (980 B), 1 move  -");
    expect(lines[3]).toMatch(/ 1 +- +\[E_PIN_MISMATCH\]/);
  });

  test("a proxy that moved the tunnel shows its switches beside the path; one that never moved shows the path alone", () => {
    const [office, backup] = HOME.tunnels;
    if (!office || !backup) throw new Error("fixture");
    const counts = { packetsIn: 1, packetsOut: 1, bytesIn: 1, bytesOut: 1, moves: 0 };
    const at = T0 - 60_000;
    const moved = doc("home", [
      {
        ...office,
        path: "direct",
        proxy: {
          ...counts,
          path: "direct",
          switches: 2,
          lastSwitch: { at, to: "direct", reason: "3 probes answered in a row" },
          relayReady: true,
        },
      },
      { ...backup, path: "relay", proxy: { ...counts, path: "relay", switches: 0, relayReady: true } },
    ]);
    const lines = statusText([moved], T0).split("\n");
    expect(lines[2]).toContain(`direct (2 switches, last ${new Date(at).toISOString().slice(11, 19)}Z)`);
    expect(lines[3]).toMatch(/^ {2}backup +failed +relay +- /);
  });

  test.each([
    [0, "0 B"],
    [1_023, "1023 B"],
    [1_024, "1.0 KiB"],
    [5 * 1024 * 1024 + 300 * 1024, "5.3 MiB"],
    [3 * 1024 ** 4, "3.0 TiB"],
  ])("bytes(%p) is %p", (n, text) => {
    expect(bytes(n)).toBe(text);
  });

  test.each([
    [0, "0s"],
    [59_999, "59s"],
    [60_000, "1m00s"],
    [3_725_000, "1h02m"],
    [2 * 86_400_000 + 4 * 3_600_000, "2d04h"],
  ])("duration(%p) is %p", (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe("netpunch status: asks a running netpunch up over its socket", () => {
  test("with CONFIG, --json prints that config's document; the table shows its tunnels", async () => {
    const runtime = join(dir, "run1");
    const server = await serveStatus({ runtimeDir: runtime, config: "home", document: () => HOME });
    try {
      const json = await runCli("status", "home", "--runtime-dir", runtime, "--json");
      expect(json.code).toBe(0);
      expect(JSON.parse(json.out)).toEqual(HOME);
      // A path names the same config as its name does.
      const text = await runCli("status", "/etc/netpunch/home.toml", "--runtime-dir", runtime);
      expect(text.code).toBe(0);
      expect(text.out).toStartWith("home (pid 4242):\n  tunnel  state");
      expect(text.out).toContain("  office  up ");
    } finally {
      server.close();
    }
  });

  test("without CONFIG, every running config, and a socket left by a dead process is skipped", async () => {
    const runtime = join(dir, "run2");
    const home = await serveStatus({ runtimeDir: runtime, config: "home", document: () => HOME });
    const nas = await serveStatus({ runtimeDir: runtime, config: "nas", document: () => doc("nas", []) });
    // A stale socket: made by a process that is gone.
    const stale = Bun.spawn(
      [
        process.execPath,
        "-e",
        `Bun.listen({ unix: ${JSON.stringify(join(runtime, "gone.sock"))}, socket: { data() {} } }); console.log("up")`,
      ],
      { stdout: "pipe" },
    );
    await stale.stdout.getReader().read();
    stale.kill("SIGKILL");
    await stale.exited;
    expect(statSync(join(runtime, "gone.sock")).isSocket()).toBe(true);
    try {
      const r = await runCli("status", "--runtime-dir", runtime, "--json");
      expect(r.code).toBe(0);
      expect((JSON.parse(r.out) as StatusDocument[]).map((d) => d.config)).toEqual(["home", "nas"]);
    } finally {
      home.close();
      nas.close();
    }
  });

  test("with no running process it says so and exits 1 (the real CLI, in its own process)", async () => {
    const empty = join(dir, "run3");
    mkdirSync(empty);
    for (const args of [
      ["status", "--runtime-dir", empty],
      ["status", "home", "--runtime-dir", empty],
      ["status", "--runtime-dir", join(dir, "none")],
    ]) {
      const p = Bun.spawn([process.execPath, MAIN, ...args], { stdout: "pipe", stderr: "pipe" });
      const [code, out, err] = await Promise.all([
        p.exited,
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
      ]);
      expect(code).toBe(1);
      expect(out).toBe("");
      expect(err).toMatch(/^\[E_NOT_RUNNING\] no running netpunch up answers (in|at) /);
      expect(err).toMatch(/^hint: start /m);
    }
  });

  test("an unknown option is a usage error (exit 2)", async () => {
    const r = await runCli("status", "--jsn");
    expect(r.code).toBe(2);
    expect(r.err).toContain("[E_USAGE]");
  });
});
