// Several --server across real kernel NAT: the real CLI, two server hosts, peers behind iptables MASQUERADE.
// Needs root (CI runs as root): `bun test test/lab/servers.test.ts`.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import {
  finish,
  PEER_PORT,
  provePath,
  SERVER_PORT,
  secretFile,
  startPeer,
  startServer,
} from "../../lab/netpunch.ts";
import { place, type Side } from "../../lab/placements.ts";

const labs = labPerTest();

/** Two server hosts (the second started only when `bothUp`), two peers given both with --server, first down. */
async function twoServers(sides: [Side, Side], bothUp: boolean) {
  const lab = labs.create();
  const secret = secretFile();
  const srv1 = lab.host("srv1");
  const ip1 = await lab.attachPublic(srv1);
  const srv2 = lab.host("srv2");
  const ip2 = await lab.attachPublic(srv2);
  const a = await place(lab, "a", sides[0], "192.0.2");
  const b = await place(lab, "b", sides[1], "198.51.100");
  if (bothUp) await startServer(lab, srv1, secret);
  await startServer(lab, srv2, secret);
  const second = ["--server", `${ip2}:${SERVER_PORT}`];
  const pa = startPeer(lab, a.host, "a", ip1, secret, second);
  const pb = startPeer(lab, b.host, "b", ip1, secret, second);
  const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
  return { lab, a, b, oa, ob, ip1, ip2 };
}

labs.test("the first server's host is up but runs no server: both connect through the second", async () => {
  const { lab, a, b, oa, ob, ip2 } = await twoServers(["nat", "nat"], false);
  expect([oa.json.rhost, oa.json.rport]).toEqual([b.publicIp, PEER_PORT]);
  expect([ob.json.rhost, ob.json.rport]).toEqual([a.publicIp, PEER_PORT]);
  // Whichever peer came first waited there, and its log names the server (the later one, matched on first
  // contact, logs no wait; which one is first is the scheduler's choice).
  expect(oa.stderr + ob.stderr).toContain(
    `waiting for the partner in session "default" at ${ip2}:${SERVER_PORT}`,
  );
  const [ra, rb] = [oa.json, ob.json];
  await provePath(lab, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, ip2);
  await provePath(lab, b.host, a.host, `${rb.rhost}:${rb.rport}`, `${ra.rhost}:${ra.rport}`, ip2);
});

labs.test(
  "both servers up, one peer behind a symmetric NAT (another port for each server): one path",
  async () => {
    const { lab, a, b, oa, ob, ip1, ip2 } = await twoServers(["public", "symmetric"], true);
    expect(oa.json.rhost).toBe(b.publicIp);
    expect(ob.json.rhost).toBe(a.publicIp);
    const [ra, rb] = [oa.json, ob.json];
    // A late MATCH from the server named (every ACK of it lost) is not the path: provePath leaves it out.
    await provePath(lab, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, ip1);
    await provePath(lab, b.host, a.host, `${rb.rhost}:${rb.rport}`, `${ra.rhost}:${ra.rport}`, ip2);
  },
);
