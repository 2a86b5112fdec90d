// UDP first, then the WebSocket (connect --server with --server-tcp; server and server_tcp in an up config),
// through the real CLI on loopback. "UDP to the server blocked" is a --server port where a socket of this
// test reads and never answers (no ICMP either); the server's relay port, on the same host, answers over UDP,
// so a proxy peer that fell back goes ws-relay -> relay (over UDP) -> direct, its tunnel running throughout.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statusSocketPath } from "../../src/up/paths.ts";
import { readStatus } from "../../src/up/status-client.ts";
import { freePort, type Proc, run, secretFile, stopAll, waitFor } from "./cli.ts";

setDefaultTimeout(60_000);
afterAll(stopAll);

const scratch = mkdtempSync(join(tmpdir(), "netpunch-fallback-"));
const secretPath = secretFile("udp-fallback-integration-secret");
const EXCHANGE = join(import.meta.dir, "../fixtures/udp-exchange.ts");
const STREAM = join(import.meta.dir, "../fixtures/udp-stream.ts");
const FALLBACK_LINE =
  /no answer from the server over UDP \(no REGISTERED in 1750 ms\); registering over the WebSocket/;

/** A TCP listener that counts the connections it is offered (and closes each): a WebSocket never opened. */
async function countingTcp(): Promise<{ port: number; accepted: () => number; close: () => void }> {
  let n = 0;
  const s: Server = createServer((c) => {
    n++;
    c.destroy();
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { port: (s.address() as { port: number }).port, accepted: () => n, close: () => s.close() };
}

/** A TCP port that was free a moment ago. */
async function freeTcpPort(): Promise<number> {
  const t = await countingTcp();
  t.close();
  return t.port;
}

/** A UDP port that takes every datagram and answers none: a server UDP does not reach. */
async function silentUdp() {
  return Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
}

async function startServer(): Promise<{ udp: number; tcp: number; server: Proc }> {
  const udp = await freePort();
  const tcp = await freeTcpPort();
  const server = run([
    "serve",
    "--listen",
    `127.0.0.1:${udp}`,
    "--relay",
    "--relay-tcp",
    `127.0.0.1:${tcp}`,
    "--secret-file",
    secretPath,
  ]);
  await waitFor(server, /listening on TCP/);
  return { udp, tcp, server };
}

const logs = async (...ps: Proc[]) => (await Promise.all(ps.map((p) => p.stderr))).join("\n---\n");

describe("connect --server with --server-tcp: UDP first", () => {
  test("UDP answers: the peers meet over UDP and the WebSocket is never opened", async () => {
    const { udp, server } = await startServer();
    const ws = await countingTcp();
    const common = ["--secret-file", secretPath, "--session", "udp-first-ok", "--timeout", "20", "--verbose"];
    const heard = { a: join(scratch, "ok-a.txt"), b: join(scratch, "ok-b.txt") };
    const hook = (role: "a" | "b") => [
      "--hook",
      "exec",
      "--",
      process.execPath,
      EXCHANGE,
      role,
      "{rhost}",
      "{rport}",
      heard[role],
    ];
    const both = ["--server", `127.0.0.1:${udp}`, "--server-tcp", `ws://127.0.0.1:${ws.port}`];
    try {
      const a = run(["connect", "--role", "a", ...both, ...common, ...hook("a")]);
      const b = run(["connect", "--role", "b", ...both, ...common, ...hook("b")]);
      const codes = await Promise.all([a.done(30_000), b.done(30_000)]);
      const out = await logs(a, b);
      expect(codes, out).toEqual([0, 0]);
      expect(readFileSync(heard.a, "utf8")).toContain("from b");
      expect(readFileSync(heard.b, "utf8")).toContain("from a");
      expect(out).toContain(`waiting for the partner in session "udp-first-ok" at 127.0.0.1:${udp}`);
      expect(out).not.toMatch(FALLBACK_LINE);
      expect(ws.accepted()).toBe(0);
    } finally {
      ws.close();
      server.proc.kill("SIGTERM");
      await server.done();
    }
  });

  test("UDP unanswered, without --proxy: one line says so, then the WebSocket relay carries the tunnel", async () => {
    const { udp, tcp, server } = await startServer();
    const silent = await silentUdp();
    const common = ["--secret-file", secretPath, "--session", "udp-first-ws", "--timeout", "20", "--verbose"];
    const heard = { a: join(scratch, "ws-a.txt"), b: join(scratch, "ws-b.txt") };
    const hook = (role: "a" | "b") => [
      "--hook",
      "exec",
      "--",
      process.execPath,
      EXCHANGE,
      role,
      "{rhost}",
      "{rport}",
      heard[role],
    ];
    try {
      const a = run([
        "connect",
        "--role",
        "a",
        "--server",
        `127.0.0.1:${silent.port}`,
        "--server-tcp",
        `ws://127.0.0.1:${tcp}`,
        ...common,
        ...hook("a"),
      ]);
      const b = run(["connect", "--role", "b", "--server", `127.0.0.1:${udp}`, ...common, ...hook("b")]);
      const codes = await Promise.all([a.done(30_000), b.done(30_000)]);
      expect(codes, await logs(a, b)).toEqual([0, 0]);
      const errA = await a.stderr;
      expect(errA.match(new RegExp(FALLBACK_LINE, "g"))?.length).toBe(1);
      expect(errA).not.toContain(`at 127.0.0.1:${silent.port}`); // no waiting at the silent server
      expect(readFileSync(heard.a, "utf8")).toContain("from b");
      expect(readFileSync(heard.b, "utf8")).toContain("from a");
    } finally {
      silent.close();
      server.proc.kill("SIGTERM");
      await server.done();
    }
  });
});

describe("up with server and server_tcp, proxy = true: back from the WebSocket", () => {
  test("falls back to the WebSocket, moves to the relay over UDP, then direct; the stream keeps flowing", async () => {
    const { udp, tcp, server } = await startServer();
    const silent = await silentUdp();
    const session = "udp-fallback-up";
    const runtimeDir = join(scratch, "up-run");
    const stream = { a: join(scratch, "stream-a.json"), b: join(scratch, "stream-b.json") };
    const stop = join(scratch, "stream.stop");
    const file = join(scratch, "fallback.toml");
    writeFileSync(
      file,
      [
        `server = ["127.0.0.1:${silent.port}"]`,
        `server_tcp = "ws://127.0.0.1:${tcp}"`,
        `secret_file = ${JSON.stringify(secretPath)}`,
        `state_dir = ${JSON.stringify(join(scratch, "up-state"))}`,
        `runtime_dir = ${JSON.stringify(runtimeDir)}`,
        "",
        "[tunnel.office]",
        'role = "a"',
        `session = "${session}"`,
        "proxy = true",
        'hook = "exec"',
        `args = ${JSON.stringify([process.execPath, STREAM, stream.a, stop])}`,
        "",
      ].join("\n"),
    );
    const up = run(["up", file, "--verbose"]);
    const b = run([
      "connect",
      "--role",
      "b",
      "--server",
      `127.0.0.1:${udp}`,
      "--no-lan",
      "--proxy",
      "--secret-file",
      secretPath,
      "--session",
      session,
      "--timeout",
      "20",
      "--verbose",
      "--hook",
      "exec",
      "--",
      process.execPath,
      STREAM,
      stream.b,
      stop,
    ]);
    try {
      await waitFor(up, /proxy: moved to direct \(3 probes answered in a row\)/, 30_000);
      const err = up.errSoFar();
      // The order of what happened, from up's log: the fallback, the WebSocket relay, UDP's relay, direct.
      const at = [
        err.search(FALLBACK_LINE),
        err.indexOf("proxy: on the relay over the WebSocket"),
        err.search(/proxy: the relay answers over UDP at 127\.0\.0\.1:\d+; left the WebSocket/),
        err.indexOf("proxy: moved to direct"),
      ];
      expect(
        at.every((i) => i >= 0),
        err,
      ).toBe(true);
      expect([...at].sort((x, y) => x - y)).toEqual(at);
      // The status (from up's socket) says direct, no longer over the WebSocket.
      const doc = await readStatus(statusSocketPath(runtimeDir, "fallback"));
      expect(doc.tunnels[0]).toMatchObject({ state: "up", path: "direct" });
      expect(doc.tunnels[0]?.proxy?.websocket).toBeUndefined();
      // Both streams heard the other after the moves: a's count goes on growing on the direct path.
      const heardBy = (f: string) => {
        try {
          return (JSON.parse(readFileSync(f, "utf8")) as { heard: number }).heard;
        } catch {
          return 0; // not written yet (the stand-in writes twice a second)
        }
      };
      const before = heardBy(stream.a);
      // (Each stand-in writes its counts twice a second: wait, at most 5 s, for both to have grown.)
      const grown = () => heardBy(stream.a) > before && heardBy(stream.b) > 0;
      for (let i = 0; i < 50 && !grown(); i++) await Bun.sleep(100);
      expect(heardBy(stream.a)).toBeGreaterThan(before);
      expect(heardBy(stream.b)).toBeGreaterThan(0);
    } finally {
      writeFileSync(stop, "");
      await b.done(10_000);
      up.proc.kill("SIGTERM");
      await up.done(10_000);
      silent.close();
      server.proc.kill("SIGTERM");
      await server.done();
    }
  });
});
