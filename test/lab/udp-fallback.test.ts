// UDP first, then the WebSocket, and back, across real NATs: peer a's gateway drops every UDP datagram
// from a's LAN (an nftables-backed iptables rule), while a's `up` has both `server` and `server_tcp`
// (wss:// on TCP 443) with proxy = true; b is on a public address, on UDP, with --proxy. a falls back to
// the WebSocket, and a stream of datagrams (test/fixtures/udp-stream.ts, both ways) runs through proxy
// mode over the WebSocket relay. The rule is then removed: the status of a's tunnel (read from up's
// socket) goes ws-relay -> relay (over UDP) -> direct, and the stream goes on with at most a few losses.
import { expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import { BUN, CLI, PEER_PORT, SERVER_PORT, secretFile, startServer, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { startUp, writeConfig } from "../../lab/up.ts";
import { statusSocketPath } from "../../src/up/paths.ts";
import { readStatus } from "../../src/up/status-client.ts";
import { selfSignedFiles } from "../support/tls-cert.ts";

/** Setup, the WebSocket phase, up to 15 s for the next UDP try after the rule goes, the direct phase. */
const TEST_MS = 120_000;
const labs = labPerTest({ timeoutMs: TEST_MS });
const STREAM = join(import.meta.dir, "../fixtures/udp-stream.ts");
/** Where a UDP-hostile network still lets traffic out: HTTPS's port. */
const TLS_PORT = 443;
/**
 * The most datagrams of the stream (20 a second each way) that may go missing across both moves: each
 * move may lose what was in flight on the old path (a round trip's worth) and what was sent in the
 * moment between the relay moving our binding and our leaving the WebSocket.
 */
const MAX_LOST = 10;
/** The status is read this often (from the test, on up's socket): each path lasts far longer. */
const POLL_MS = 50;

interface Stream {
  sent: number;
  heard: number;
  missing: number;
}
const readStream = (file: string): Stream | undefined => {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Stream;
  } catch {
    return undefined; // caught mid-write
  }
};

labs.test(
  "UDP dropped at a's gateway: up falls back to the WebSocket relay; once UDP passes again it moves to the UDP relay, then direct, the stream going on",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const dir = labs.tempDir("netpunch-udp-fallback-");
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "public");
    if (!a.gateway) throw new Error("peer a has no gateway");
    const tls = await selfSignedFiles(dir, serverIp);
    const dropUdp = ["FORWARD", "-p", "udp", "-s", a.lanIp, "-j", "DROP"];
    l.exec(a.gateway, ["iptables", "-I", ...dropUdp]);
    const srv = await startServer(l, server, secret, [
      "--relay",
      "--relay-tcp",
      `0.0.0.0:${TLS_PORT}`,
      "--tls-cert",
      tls.cert,
      "--tls-key",
      tls.key,
    ]);
    await waitStderr(srv, /listening on TCP 0\.0\.0\.0:443 \(WebSocket over TLS\)/);
    const stop = join(dir, "stop");
    const streamOf = { a: join(dir, "a.json"), b: join(dir, "b.json") };
    const file = writeConfig(dir, "home", {
      servers: [`${serverIp}:${SERVER_PORT}`],
      secretFile: secret,
      top: { server_tcp: `wss://${serverIp}:${TLS_PORT}`, tls_ca: tls.cert },
      tunnels: {
        office: {
          role: "a",
          session: "lab-fallback",
          local: `:${PEER_PORT}`,
          proxy: true,
          hook: "exec",
          args: [BUN, STREAM, streamOf.a, stop],
        },
      },
    });
    const up = startUp(l, a.host, file);
    const pb = l.spawn(b.host, [
      BUN,
      CLI,
      "connect",
      "--role",
      "b",
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      "--secret-file",
      secret,
      "--session",
      "lab-fallback",
      "--local",
      `:${PEER_PORT}`,
      "--proxy",
      "--timeout",
      "60",
      "--verbose",
      "--hook",
      "exec",
      "--",
      BUN,
      STREAM,
      streamOf.b,
      stop,
    ]);
    const socket = statusSocketPath(join(dir, "home", "run"), "home");
    const pathNow = () =>
      readStatus(socket).then(
        (d) => (d.tunnels[0]?.state === "up" ? d.tunnels[0].path : undefined),
        () => undefined,
      );
    /** Polls the path (every POLL_MS, at most `ms`), noting each new one, until `until` is seen. */
    const seen: string[] = [];
    const watchPath = async (until: string, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const p = await pathNow();
        if (p !== undefined && seen.at(-1) !== p) seen.push(p);
        if (p === until) return;
        await Bun.sleep(POLL_MS);
      }
      throw new Error(`the path never became ${until}: seen ${seen.join(" -> ")}\n${l.transcript()}`);
    };
    try {
      await waitStderr(
        up,
        /no answer from the server over UDP \(no REGISTERED in 1750 ms\); registering over the WebSocket wss:/,
        20_000,
      );
      await watchPath("ws-relay", 30_000);
      // The stream runs over the WebSocket relay, both ways.
      const flowing = async (min: number) => {
        for (let i = 0; i < 200; i++) {
          const [sa, sb] = [readStream(streamOf.a), readStream(streamOf.b)];
          if ((sa?.heard ?? 0) >= min && (sb?.heard ?? 0) >= min) return [sa, sb] as [Stream, Stream];
          await Bun.sleep(100);
        }
        throw new Error(`the stream is not flowing: ${readFileSync(streamOf.a, "utf8")}`);
      };
      const [onWs] = await flowing(20);
      expect(await pathNow()).toBe("ws-relay");
      // UDP passes again.
      l.exec(a.gateway, ["iptables", "-D", ...dropUdp]);
      await watchPath("direct", 60_000);
      expect(seen).toEqual(["ws-relay", "relay", "direct"]);
      // Both moves are switches in status: the WebSocket relay to the UDP relay, then the relay to direct.
      const proxy = (await readStatus(socket)).tunnels[0]?.proxy;
      expect([proxy?.switches, proxy?.lastSwitch?.to]).toEqual([2, "direct"]);
      await waitStderr(up, /proxy: the relay answers over UDP at [\d.]+:\d+; left the WebSocket/, 1_000);
      // The stream goes on over the direct path, and lost at most a few datagrams on the way.
      const [sa, sb] = await flowing(onWs.heard + 40);
      writeFileSync(stop, "");
      expect(await pb.exited, pb.output().stderr).toBe(0);
      const end = [readStream(streamOf.a) ?? sa, readStream(streamOf.b) ?? sb];
      for (const s of end) expect(s.missing).toBeLessThanOrEqual(MAX_LOST);
    } finally {
      writeFileSync(stop, "");
      up.kill("SIGTERM");
      await up.exited;
      srv.kill("SIGTERM");
      await srv.exited;
    }
  },
  TEST_MS,
);
