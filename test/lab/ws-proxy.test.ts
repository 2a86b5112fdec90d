// Proxy mode over the WebSocket relay, trying UDP in the background: peer a's gateway drops UDP to the
// server (so a registers over wss:// on TCP 443) but lets UDP to anyone else out; b is on a public address,
// on UDP. Both run --proxy: the tunnel starts on the relay (over the WebSocket for a), a's proxy probes b's
// address from the UDP socket beside its WebSocket, and both move to the direct path; the stand-in tunnels
// (test/fixtures/proxy-tunnel.ts, started late) hear each other.
import { expect } from "bun:test";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import { BUN, CLI, PEER_PORT, SERVER_PORT, secretFile, startServer, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { selfSignedFiles } from "../support/tls-cert.ts";

const labs = labPerTest();
const TUNNEL = join(import.meta.dir, "../fixtures/proxy-tunnel.ts");
/** Where a UDP-hostile network still lets traffic out: HTTPS's port. */
const TLS_PORT = 443;

labs.test(
  "UDP to the server blocked: a WebSocket proxy peer starts on the relay, then moves to direct with a UDP peer",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const dir = labs.tempDir("netpunch-ws-proxy-");
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "public");
    const tls = await selfSignedFiles(dir, serverIp);
    if (!a.gateway) throw new Error("peer a has no gateway");
    l.exec(a.gateway, ["iptables", "-I", "FORWARD", "-p", "udp", "-d", serverIp, "-j", "DROP"]);
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
    const common = ["--secret-file", secret, "--local", `:${PEER_PORT}`, "--timeout", "30", "--verbose"];
    // The stand-in tunnel starts a few seconds late, so most of its datagrams cross after the switch.
    const late = ["--proxy", "--hook", "exec", "--", "sh", "-c", `sleep 4; exec ${BUN} ${TUNNEL}`];
    const server_ = ["--server-tcp", `wss://${serverIp}:${TLS_PORT}`, "--tls-ca", tls.cert];
    const pa = l.spawn(a.host, [BUN, CLI, "connect", "--role", "a", ...server_, ...common, ...late]);
    const pb = l.spawn(b.host, [
      BUN,
      CLI,
      "connect",
      "--role",
      "b",
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      ...common,
      ...late,
    ]);
    await waitStderr(pa, /proxy: on the relay over the WebSocket/, 20_000);
    for (const p of [pa, pb])
      await waitStderr(p, /proxy: moved to direct \(3 probes answered in a row\)/, 20_000);
    const codes = await Promise.all([pa.exited, pb.exited]);
    expect(codes, `${pa.output().stderr}\n---\n${pb.output().stderr}`).toEqual([0, 0]);
    expect(`${pa.output().stdout}${pa.output().stderr}`).toContain("heard: from b");
    expect(`${pb.output().stdout}${pb.output().stderr}`).toContain("heard: from a");
    srv.kill("SIGTERM");
    expect(await srv.exited).toBe(0);
  },
);
