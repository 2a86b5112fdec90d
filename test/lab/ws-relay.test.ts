// UDP blocked: peer a's gateway drops every UDP packet it would forward, so a reaches the server only over
// a WebSocket over TLS on TCP 443 (connect --server-tcp wss://); b is on UDP. The server's relay bridges the
// two, and a stand-in tunnel on each side (the exec hook, test/fixtures/udp-exchange.ts) hears the other.
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import { BUN, CLI, PEER_PORT, SERVER_PORT, secretFile, startServer, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { selfSignedFiles } from "../support/tls-cert.ts";

const labs = labPerTest();
const EXCHANGE = join(import.meta.dir, "../fixtures/udp-exchange.ts");
/** Where a UDP-hostile network still lets traffic out: HTTPS's port. */
const TLS_PORT = 443;

labs.test(
  "a peer whose gateway drops all UDP is relayed over wss:// on TCP 443 to a peer on UDP",
  async () => {
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

    // The rule holds: over UDP, a hears nothing from the server.
    const udpTry = l.spawn(a.host, [
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
    const common = ["--secret-file", secret, "--local", `:${PEER_PORT}`, "--timeout", "30", "--verbose"];
    const pa = l.spawn(a.host, [
      BUN,
      CLI,
      "connect",
      "--role",
      "a",
      "--server-tcp",
      `wss://${serverIp}:${TLS_PORT}`,
      "--tls-ca",
      tls.cert,
      ...common,
      ...tunnel("a"),
    ]);
    const pb = l.spawn(b.host, [
      BUN,
      CLI,
      "connect",
      "--role",
      "b",
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      "--relay-after",
      "0.5",
      ...common,
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
