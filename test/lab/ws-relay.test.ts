// UDP blocked: peer a's gateway drops every UDP packet it would forward, so a reaches the server only over
// a WebSocket over TLS on TCP 443 (connect --server-tcp wss://); b is on UDP. The server's relay bridges the
// two: a stand-in tunnel on each side (the exec hook, test/fixtures/udp-exchange.ts) hears the other, and
// WireGuard (wireguard-go) pings both ways.
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  CLI,
  exitWithin,
  PEER_PORT,
  SERVER_PORT,
  secretFile,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { keyPair, PRIVATE_WG_RUN, setconfFile, startWgPeer, wgHookArgs } from "../../lab/wg.ts";
import { selfSignedFiles } from "../support/tls-cert.ts";

const labs = labPerTest();
const EXCHANGE = join(import.meta.dir, "../fixtures/udp-exchange.ts");
/** Where a UDP-hostile network still lets traffic out: HTTPS's port. */
const TLS_PORT = 443;

/** Two NATed peers, a's gateway dropping every UDP packet it forwards; the server with a wss:// listener. */
async function udpBlocked() {
  const l = labs.create();
  const secret = secretFile();
  const dir = labs.tempDir("netpunch-ws-relay-");
  const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
  const tls = await selfSignedFiles(dir, serverIp);
  const gw = a.gateway;
  if (!gw) throw new Error("peer a has no gateway");
  l.exec(gw, ["iptables", "-I", "FORWARD", "-p", "udp", "-j", "DROP"]);
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
  /** `connect` for a over the WebSocket, trusting the server's self-signed certificate. */
  const wsPeer = (more: string[]) => [
    BUN,
    CLI,
    "connect",
    "--role",
    "a",
    "--server-tcp",
    `wss://${serverIp}:${TLS_PORT}`,
    "--tls-ca",
    tls.cert,
    "--secret-file",
    secret,
    "--local",
    `:${PEER_PORT}`,
    "--verbose",
    ...more,
  ];
  return { l, secret, dir, serverIp, a: a.host, b: b.host, srv, wsPeer };
}

labs.test(
  "a peer whose gateway drops all UDP is relayed over wss:// on TCP 443 to a peer on UDP",
  async () => {
    const { l, secret, dir, serverIp, a, b, srv, wsPeer } = await udpBlocked();
    // The rule holds: over UDP, a hears nothing from the server.
    const udpTry = l.spawn(a, [
      BUN,
      CLI,
      "connect",
      "--role",
      "a",
      "--session",
      "probe",
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      "--server-timeout",
      "2",
      "--secret-file",
      secret,
    ]);
    expect(await udpTry.exited).toBe(1);
    expect(udpTry.output().stderr).toContain("E_SERVER_SILENT");

    const heard = { a: join(dir, "a.txt"), b: join(dir, "b.txt") };
    const tunnel = (role: "a" | "b") => [
      "--hook",
      "exec",
      "--",
      BUN,
      EXCHANGE,
      role,
      "{rhost}",
      "{rport}",
      heard[role],
    ];
    const pa = l.spawn(a, wsPeer(["--timeout", "30", ...tunnel("a")]));
    const pb = l.spawn(b, [
      BUN,
      CLI,
      "connect",
      "--role",
      "b",
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      "--relay-after",
      "0.5",
      "--secret-file",
      secret,
      "--local",
      `:${PEER_PORT}`,
      "--timeout",
      "30",
      "--verbose",
      ...tunnel("b"),
    ]);
    const codes = await Promise.all([pa.exited, pb.exited]);
    expect(codes, `${pa.output().stderr}\n---\n${pb.output().stderr}`).toEqual([0, 0]);
    expect(pa.output().stderr).toMatch(/connected: .*\(relay, rtt/);
    expect(pb.output().stderr).toMatch(/connected: .*\(relay, rtt/);
    expect(readFileSync(heard.a, "utf8")).toBe("from b");
    expect(readFileSync(heard.b, "utf8")).toBe("from a");
    srv.kill("SIGTERM");
    expect(await srv.exited).toBe(0);
    expect(srv.output().stderr).toMatch(/[1-9]\d* bytes relayed/);
  },
);

labs.test(
  "WireGuard (wireguard-go) through the WebSocket relay, UDP blocked on one side: ping both ways",
  async () => {
    const { l, dir, serverIp, secret, a, b, wsPeer } = await udpBlocked();
    const ka = keyPair(l, a);
    const kb = keyPair(l, b);
    const pa = l.spawn(a, [
      ...PRIVATE_WG_RUN,
      ...wsPeer(
        wgHookArgs({
          config: setconfFile(dir, "a", ka.priv, kb.pub, "198.18.202.2"),
          partnerPub: kb.pub,
          address: "198.18.202.1/24",
        }),
      ),
    ]);
    const pb = startWgPeer(l, b, "b", serverIp, secret, {
      partnerPub: ka.pub,
      config: setconfFile(dir, "b", kb.priv, ka.pub, "198.18.202.1"),
      address: "198.18.202.2/24",
    });
    await Promise.all([pa, pb].map((p) => waitStderr(p, /handshake with/, 40_000)));
    expect(pa.output().stderr).toMatch(/connected: .*\(relay, rtt/);
    expect(l.exec(a, ["ping", "-n", "-c", "3", "-W", "2", "198.18.202.2"]).code).toBe(0);
    expect(l.exec(b, ["ping", "-n", "-c", "3", "-W", "2", "198.18.202.1"]).code).toBe(0);
    pa.kill("SIGINT");
    pb.kill("SIGINT");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
  },
);
