// serve --metrics and up --metrics as real processes on loopback: real pairs move the counters, Debian's
// promtool parses what /metrics serves, no label carries a session name, an address or the secret, and
// /healthz answers. The socket-gone 503 is a library-level test on a real UDP socket.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveMetrics } from "../../src/metrics/http.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { open } from "../../src/protocol/packet.ts";
import { connect as punch } from "../../src/punch/connect.ts";
import { serve } from "../../src/rendezvous/server.ts";
import { MemoryNetwork } from "../../src/transport/memory.ts";
import type { Transport } from "../../src/transport/types.ts";
import { openUdp } from "../../src/transport/udp.ts";
import { connect, freePort, run, secretFile, stopAll, waitFor } from "./cli.ts";

// Real processes and sockets, and the up supervisor's real timings.
setDefaultTimeout(60_000);
afterAll(stopAll);

const SECRET_TEXT = "metrics-it-secret-0d2a6f";
const SECRET = secretFile(SECRET_TEXT);

/** A TCP port that was free a moment ago on loopback (for --metrics, which takes no port 0). */
async function freeTcpPort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Fetches `path` from the metrics listener: status and body. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** promtool with `args` (and `stdin`): its exit code and what it said. Missing promtool is a failure. */
function promtoolRun(args: string[], stdin?: string): { code: number; out: string } {
  const bin = Bun.which("promtool");
  if (!bin)
    throw new Error(
      "promtool is not installed: apt-get install --no-install-recommends prometheus (scripts/setup.sh does)",
    );
  const r = Bun.spawnSync([bin, ...args], {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** `promtool check metrics` on an exposition: it prints nothing for one without problems. */
const promtool = (text: string) => promtoolRun(["check", "metrics"], text);

/** The value of the one sample `name{labels}` (labels as written), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every label value in the exposition. */
const labelValues = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .flatMap((l) => [...l.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string));

/** Fails if any of `secrets` appears in a label value, or anywhere in the exposition at all. */
function expectNothingOf(text: string, secrets: string[]): void {
  const values = labelValues(text);
  expect(values.length).toBeGreaterThan(0);
  for (const s of secrets) {
    expect(values.filter((v) => v.includes(s))).toEqual([]);
    expect(text.includes(s) ? s : "").toBe("");
  }
}

describe("serve --metrics", () => {
  test("real pairs move the counters; promtool accepts the output; no session, address or secret in it", async () => {
    const port = await freePort();
    const mport = await freeTcpPort();
    const server = run([
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--secret-file",
      SECRET,
      "--metrics",
      `127.0.0.1:${mport}`,
    ]);
    await waitFor(server, /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const before = await get(mport, "/metrics");
    expect(before.status).toBe(200);
    expect(sample(before.body, "netpunch_pairs_made_total")).toBe(0);

    const sessions = ["metrics-pair-one", "metrics-pair-two"];
    const peers = sessions.flatMap((session) =>
      (["a", "b"] as const).map((role) =>
        connect(role, `127.0.0.1:${port}`, "--session", session, "--secret-file", SECRET, "--json", "-q"),
      ),
    );
    const codes = await Promise.all(peers.map((p) => p.done()));
    expect(codes).toEqual([0, 0, 0, 0]);
    const peerPorts = await Promise.all(
      peers.map(async (p) => String((JSON.parse((await p.stdout).trim()) as { lport: number }).lport)),
    );

    const after = await get(mport, "/metrics");
    expect(after.status).toBe(200);
    expect(sample(after.body, "netpunch_pairs_made_total")).toBeGreaterThanOrEqual(2);
    expect(sample(after.body, "netpunch_packets_received_total")).toBeGreaterThanOrEqual(8);
    expect(sample(after.body, "netpunch_packets_sent_total")).toBeGreaterThan(0);
    expect(sample(after.body, 'netpunch_store_operations_total{op="update",result="ok"}')).toBeGreaterThan(0);
    expect(sample(after.body, 'netpunch_relay_refusals_total{reason="off"}')).toBe(0);

    const check = promtool(after.body);
    expect(check.out).toBe("");
    expect(check.code).toBe(0);

    expectNothingOf(after.body, [...sessions, SECRET_TEXT, "127.0.0.1", SECRET]);
    // A peer's port as a whole label value would be an address in disguise.
    expect(labelValues(after.body).filter((v) => peerPorts.includes(v))).toEqual([]);

    expect(await get(mport, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect((await get(mport, "/")).status).toBe(404);

    server.proc.kill("SIGTERM");
    expect(await server.done()).toBe(0);
    // The listener went with the server.
    await expect(fetch(`http://127.0.0.1:${mport}/healthz`)).rejects.toThrow();
  });

  test.each([["nonsense"], ["127.0.0.1:0"], ["[::1:9464"]])(
    "--metrics %s is a usage error (exit 2)",
    async (bad) => {
      const port = await freePort();
      const p = run(["serve", "--listen", `127.0.0.1:${port}`, "--secret-file", SECRET, "--metrics", bad]);
      expect(await p.done()).toBe(2);
      expect(await p.stderr).toContain("--metrics address");
    },
  );

  test("a --metrics port already taken stops the server with the reason (exit 1)", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const port = await freePort();
      const p = run([
        "serve",
        "--listen",
        `127.0.0.1:${port}`,
        "--secret-file",
        SECRET,
        "--metrics",
        `127.0.0.1:${taken.port}`,
      ]);
      expect(await p.done()).toBe(1);
      expect(await p.stderr).toContain(`cannot listen for metrics on TCP 127.0.0.1:${taken.port}`);
    } finally {
      taken.stop(true);
    }
  });
});

describe("README: the scrape job and the example alerts", () => {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("### Metrics and health"),
    readme.indexOf("## Tunnels as a service"),
  );
  const yaml = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const dir = mkdtempSync(join(tmpdir(), "netpunch-metrics-readme-"));

  test("promtool check config accepts the prometheus.yml snippet", () => {
    const file = join(dir, "prometheus.yml");
    writeFileSync(file, yaml.find((y) => y.includes("scrape_configs:")) ?? "");
    expect(promtoolRun(["check", "config", file]).code).toBe(0);
  });

  test("promtool check rules accepts both alerts, and they name metrics that exist", () => {
    const rules = yaml.find((y) => y.includes("groups:")) ?? "";
    const file = join(dir, "alerts.yml");
    writeFileSync(file, rules);
    const r = promtoolRun(["check", "rules", file]);
    expect(r.out).toContain("SUCCESS: 2 rules found");
    expect(r.code).toBe(0);
    expect(rules).toContain("netpunch_event_loop_lag_max_seconds");
  });
});

describe("the server's counters behind the metrics", () => {
  test("a lost MATCH is sent again and counted as a retransmission; the pair is still made", async () => {
    const net = new MemoryNetwork();
    const SERVER = { host: "198.51.100.7", port: 10001 };
    const key = deriveKey(SECRET_TEXT);
    let lost = 0;
    // The first MATCH to b is lost on the way: b cannot acknowledge what it never got.
    net.drop = (r) => {
      if (lost > 0 || r.from.host !== SERVER.host || r.to.host !== "198.18.0.20") return false;
      const m = open(key, r.data);
      if (!m.ok || m.frame.msg.type !== "match") return false;
      lost++;
      return true;
    };
    const server = await serve({
      listen: SERVER,
      secret: SECRET_TEXT,
      transport: (b, h) => Promise.resolve(net.bind({ host: SERVER.host, port: b.port }, h)),
    });
    try {
      const peer = (role: "a" | "b", host: string) =>
        punch({
          server: SERVER,
          secret: SECRET_TEXT,
          role,
          session: "retransmitted",
          lan: false,
          // b's own REGISTER retries come long after the server's first MATCH retransmission (200 ms), so
          // only that retransmission can bring b its MATCH.
          timings: { registerRetryMs: 3_000, registerRetryMaxMs: 3_000 },
          transport: async (b, h) => net.bind({ host, port: b.port || 40_000 }, h),
        });
      const [a, b] = await Promise.all([peer("a", "203.0.113.10"), peer("b", "198.18.0.20")]);
      expect([a.session, b.session]).toEqual(["retransmitted", "retransmitted"]);
      expect(lost).toBe(1);
      const stats = server.stats();
      expect(stats.matchRetransmits).toBeGreaterThanOrEqual(1);
      expect(stats.pairsMade).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe("health: the library's server", () => {
  test("healthy while serving; 503 reasons once its UDP socket is closed under it, and once it stopped", async () => {
    const opened: Transport[] = [];
    const server = await serve({
      listen: { host: "127.0.0.1", port: 0 },
      secret: SECRET_TEXT,
      transport: async (bind, onDatagram, onError) => {
        const t = await openUdp(bind, onDatagram, onError);
        opened.push(t);
        return t;
      },
    });
    try {
      expect(await server.health()).toEqual({ ok: true });
      // Over HTTP too, as a load balancer or the blackbox exporter sees it.
      const http = serveMetrics({
        listen: { host: "127.0.0.1", port: 0 },
        metrics: () => "",
        health: () => server.health(),
      });
      try {
        expect(await get(http.local.port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
        expect(opened.length).toBe(1);
        opened[0]?.close(); // the socket goes away while the server still runs
        expect(await server.health()).toEqual({ ok: false, reason: "the UDP socket is closed" });
        expect(await get(http.local.port, "/healthz")).toEqual({
          status: 503,
          body: "the UDP socket is closed\n",
        });
      } finally {
        http.close();
      }
    } finally {
      server.close();
    }
    await server.closed;
    expect(await server.health()).toEqual({ ok: false, reason: "the server has stopped" });
  });

  test("a store that reports itself unreachable makes the server unhealthy, with the store's words", async () => {
    const { MemoryStore } = await import("../../src/rendezvous/store.ts");
    class Unreachable extends MemoryStore {
      async health() {
        return { ok: false as const, reason: "store unreachable: connection refused" };
      }
    }
    const server = await serve({
      listen: { host: "127.0.0.1", port: 0 },
      secret: SECRET_TEXT,
      store: new Unreachable(),
    });
    try {
      expect(await server.health()).toEqual({ ok: false, reason: "store unreachable: connection refused" });
    } finally {
      server.close();
    }
  });
});

/** Writes DIR/NAME.toml: one exec tunnel named `hold` that holds `sleep 30` while up. */
function upConfig(dir: string, name: string, port: number, role: "a" | "b", session: string): string {
  const file = join(dir, `${name}.toml`);
  writeFileSync(
    file,
    [
      `server = "127.0.0.1:${port}"`,
      `secret_file = ${JSON.stringify(SECRET)}`,
      `state_dir = ${JSON.stringify(join(dir, name, "state"))}`,
      `runtime_dir = ${JSON.stringify(join(dir, "run"))}`,
      "",
      "[tunnel.hold]",
      `role = "${role}"`,
      `session = "${session}"`,
      "lan = false",
      'hook = "exec"',
      'args = ["sleep", "30"]',
      "",
    ].join("\n"),
  );
  return file;
}

describe("up --metrics", () => {
  test("per tunnel: state up, path, RTT, rounds, last up; promtool accepts it; no session or address", async () => {
    const began = Date.now();
    const port = await freePort();
    const server = run(["serve", "--listen", `127.0.0.1:${port}`, "--secret-file", SECRET]);
    await waitFor(server, /listening on UDP/);
    const dir = mkdtempSync(join(tmpdir(), "netpunch-metrics-up-"));
    const session = "metrics-up-session";
    const mport = await freeTcpPort();
    const a = run(["up", upConfig(dir, "ma", port, "a", session), "--metrics", `127.0.0.1:${mport}`]);
    const b = run(["up", upConfig(dir, "mb", port, "b", session)]);
    await waitFor(a, /metrics on http:\/\/127\.0\.0\.1/);

    // Bounded wait for the tunnel to come up, read through the metrics themselves.
    const deadline = Date.now() + 20_000;
    let text = "";
    while (Date.now() < deadline) {
      text = (await get(mport, "/metrics")).body;
      if (sample(text, 'netpunch_tunnel_state{tunnel="hold",state="up"}') === 1) break;
      await Bun.sleep(200);
    }
    expect(sample(text, 'netpunch_tunnel_state{tunnel="hold",state="up"}')).toBe(1);
    expect(sample(text, 'netpunch_tunnel_state{tunnel="hold",state="waiting"}')).toBe(0);
    expect(sample(text, 'netpunch_tunnel_path{tunnel="hold",path="direct"}')).toBe(1);
    expect(sample(text, 'netpunch_tunnel_rounds_total{tunnel="hold"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'netpunch_tunnel_repunches_total{tunnel="hold"}')).toBe(0);
    expect(sample(text, 'netpunch_tunnel_rtt_seconds{tunnel="hold"}')).toBeGreaterThanOrEqual(0);
    // A unix time (seconds) within this test, not milliseconds nor 0.
    const lastUp = sample(text, 'netpunch_tunnel_last_up_timestamp_seconds{tunnel="hold"}') ?? 0;
    expect(lastUp).toBeGreaterThanOrEqual(Math.floor(began / 1000));
    expect(lastUp).toBeLessThanOrEqual(Date.now() / 1000);
    expect(sample(text, "netpunch_process_resident_memory_bytes")).toBeGreaterThan(0);

    const check = promtool(text);
    expect(check.out).toBe("");
    expect(check.code).toBe(0);
    expectNothingOf(text, [session, SECRET_TEXT, "127.0.0.1"]);
    expect(await get(mport, "/healthz")).toEqual({ status: 200, body: "ok\n" });

    a.proc.kill("SIGTERM");
    b.proc.kill("SIGTERM");
    expect(await a.done()).toBe(0);
    expect(await b.done()).toBe(0);
    server.proc.kill("SIGTERM");
    await server.done();
  });
});
