// Both peers behind symmetric NATs (MASQUERADE --random-fully): no direct path exists, so they fall back on
// the server's relay, and real tunnels (OpenVPN with a static key, WireGuard with wireguard-go) run through
// it unchanged. Without --relay on the server the failure says so.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import {
  emptyWithin,
  exitWithin,
  finish,
  openvpnHook,
  openvpnStaticKey,
  PEER_PORT,
  provePath,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { keyPair, setconfFile, startWgPeer } from "../../lab/wg.ts";

const labs = labPerTest();

async function bothSymmetric(serverArgs: string[]) {
  const l = labs.create();
  const secret = secretFile();
  const { server, serverIp, a, b } = await serverAndPair(l, "symmetric", "symmetric");
  const srv = await startServer(l, server, secret, serverArgs);
  return { l, a: a.host, b: b.host, serverIp, secret, srv };
}

labs.test(
  "two symmetric NATs meet through the relay; the relayed path carries datagrams both ways",
  async () => {
    const { l, a, b, serverIp, secret, srv } = await bothSymmetric([
      "--relay",
      "--relay-ports",
      "20000-20009",
    ]);
    const pa = startPeer(l, a, "a", serverIp, secret);
    const pb = startPeer(l, b, "b", serverIp, secret);
    const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
    expect([oa.json.via, ob.json.via]).toEqual(["relay", "relay"]);
    expect(oa.json.rhost).toBe(serverIp);
    expect(oa.json.rport).toBe(ob.json.rport); // one relay port for the pair
    expect(oa.json.rport).toBeGreaterThanOrEqual(20000); // from the range the operator opened
    expect(oa.json.rport).toBeLessThanOrEqual(20009);
    expect(oa.stderr).toContain("asking the server for a relay");
    // The hole is real after netpunch has exited: the relay forwards between the two bound mappings.
    const relay = `${serverIp}:${oa.json.rport}`;
    await provePath(l, a, b, relay, relay);
    await provePath(l, b, a, relay, relay);
    srv.kill("SIGTERM");
    await srv.exited;
    expect(srv.output().stderr).toMatch(/relay for pair [0-9a-f]{8} on UDP port \d+/);
  },
);

labs.test(
  "without --relay on the server, two symmetric NATs fail with a message that says what would help",
  async () => {
    const { l, a, b, serverIp, secret } = await bothSymmetric([]);
    const extra = ["--punch-timeout", "5", "--relay-after", "1"];
    const pa = startPeer(l, a, "a", serverIp, secret, extra);
    const pb = startPeer(l, b, "b", serverIp, secret, extra);
    expect(await pa.exited).toBe(1);
    expect(await pb.exited).toBe(1);
    const err = pa.output().stderr;
    expect(err).toContain("the server has no relay to offer");
    expect(err).toMatch(
      /\[E_PUNCH_FAILED\] no packet from the partner arrived within 5 s .*start it with serve --relay/,
    );
  },
);

labs.test("OpenVPN with a static key runs through the relay and carries ping", async () => {
  const { l, a, b, serverIp, secret } = await bothSymmetric(["--relay"]);
  const key = openvpnStaticKey();
  const ovpn = (local: string, remote: string) => openvpnHook(key, local, remote, 10);
  const pa = startPeer(l, a, "a", serverIp, secret, ovpn("198.18.200.1", "198.18.200.2"));
  const pb = startPeer(l, b, "b", serverIp, secret, ovpn("198.18.200.2", "198.18.200.1"));
  await Promise.all([pa, pb].map((p) => waitStderr(p, /Initialization Sequence Completed/, 30_000)));
  expect(pa.output().stderr).toContain(`link remote: [AF_INET]${serverIp}:`);
  expect(l.exec(a, ["ping", "-n", "-c", "3", "-W", "2", "198.18.200.2"]).stdout).toMatch(/[1-3] received/);
  expect(l.exec(b, ["ping", "-n", "-c", "3", "-W", "2", "198.18.200.1"]).stdout).toMatch(/[1-3] received/);
  pa.kill("SIGINT");
  pb.kill("SIGINT");
  expect(await pa.exited).toBe(0);
  expect(await pb.exited).toBe(0);
});

labs.test("WireGuard (wireguard-go) runs through the relay: handshake, then ping both ways", async () => {
  const { l, a, b, serverIp, secret } = await bothSymmetric(["--relay"]);
  const dir = labs.tempDir("netpunch-relay-wg-");
  const ka = keyPair(l, a);
  const kb = keyPair(l, b);
  const pa = startWgPeer(l, a, "a", serverIp, secret, {
    partnerPub: kb.pub,
    config: setconfFile(dir, "a", ka.priv, kb.pub, "198.18.201.2"),
    address: "198.18.201.1/24",
  });
  const pb = startWgPeer(l, b, "b", serverIp, secret, {
    partnerPub: ka.pub,
    config: setconfFile(dir, "b", kb.priv, ka.pub, "198.18.201.1"),
    address: "198.18.201.2/24",
  });
  await Promise.all([pa, pb].map((p) => waitStderr(p, /handshake with/, 40_000)));
  expect(pa.output().stderr).toContain(`listen-port ${PEER_PORT}, peer endpoint ${serverIp}:`);
  expect(l.exec(a, ["ping", "-n", "-c", "3", "-W", "2", "198.18.201.2"]).code).toBe(0);
  expect(l.exec(b, ["ping", "-n", "-c", "3", "-W", "2", "198.18.201.1"]).code).toBe(0);
  pa.kill("SIGINT");
  pb.kill("SIGINT");
  expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
  expect([await emptyWithin(a.ns), await emptyWithin(b.ns)]).toEqual(["", ""]);
});
