// Several servers on one Redis across real kernel NAT: the real CLI, two server hosts sharing one real
// redis-server (in the first server's namespace), peers behind iptables MASQUERADE, whose NATs let in only
// the servers they sent to. Needs root (CI runs as root): `bun test test/lab/shared-store.test.ts`.
import { expect } from "bun:test";
import type { Host, Lab, LabProcess } from "../../lab/lab.ts";
import { labPerTest } from "../../lab/lab.ts";
import {
  finish,
  PEER_PORT,
  provePath,
  SERVER_PORT,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { place, type Side } from "../../lab/placements.ts";

const labs = labPerTest({ timeoutMs: 90_000 });
/** Redis's own port, inside the first server's namespace. */
const REDIS_PORT = 6379;

/** redis-server on `ip` (and loopback) in `host`'s namespace, no persistence; resolves once it is ready. */
async function startRedis(lab: Lab, host: Host, ip: string): Promise<LabProcess> {
  const p = lab.spawn(host, [
    "redis-server",
    "--port",
    String(REDIS_PORT),
    "--bind",
    `127.0.0.1 ${ip}`,
    // Reached from the second server's namespace over the lab's own network, without a password.
    "--protected-mode",
    "no",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  await p.waitFor("Ready to accept connections", 10_000);
  return p;
}

/**
 * Two server hosts and one Redis; a (192.0.2.0/24) and b (198.51.100.0/24) behind NATs unless told.
 * `serverArgs`: more arguments for each server, given its public address.
 */
async function cluster(
  sides: [Side, Side] = ["nat", "nat"],
  serverArgs: (ip: string) => string[] = () => [],
) {
  const lab = labs.create();
  const secret = secretFile();
  const srv1 = lab.host("srv1");
  const ip1 = await lab.attachPublic(srv1);
  const srv2 = lab.host("srv2");
  const ip2 = await lab.attachPublic(srv2);
  const a = await place(lab, "a", sides[0], "192.0.2");
  const b = await place(lab, "b", sides[1], "198.51.100");
  const redis = await startRedis(lab, srv1, ip1);
  const store = `redis://${ip1}:${REDIS_PORT}/0`;
  const s1 = await startServer(lab, srv1, secret, ["--store", store, ...serverArgs(ip1)]);
  const s2 = await startServer(lab, srv2, secret, ["--store", store, ...serverArgs(ip2)]);
  /** Kills redis-server by its PID (SIGKILL: a crash), then starts it again on the same port, empty. */
  const restartRedis = async () => {
    redis.kill("SIGKILL");
    expect(await redis.exited).not.toBe(0);
    return startRedis(lab, srv1, ip1);
  };
  return { lab, secret, a, b, ip1, ip2, s1, s2, restartRedis };
}

labs.test("a registers only with server 1, b only with server 2, one Redis: they connect", async () => {
  const { lab, secret, a, b, ip1, ip2, s2 } = await cluster();
  const pa = startPeer(lab, a.host, "a", ip1, secret);
  await waitStderr(pa, /waiting for the partner/);
  const pb = startPeer(lab, b.host, "b", ip2, secret);
  const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
  expect([oa.json.rhost, oa.json.rport]).toEqual([b.publicIp, PEER_PORT]);
  expect([ob.json.rhost, ob.json.rport]).toEqual([a.publicIp, PEER_PORT]);
  // Server 2 made the pair; a's MATCH came from server 1, the only server a's NAT lets in.
  expect(s2.output().stderr).toContain("peer b registered from");
  expect(s2.output().stderr).not.toContain("peer a registered");
  const [ra, rb] = [oa.json, ob.json];
  await provePath(lab, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, ip1);
  await provePath(lab, b.host, a.host, `${rb.rhost}:${rb.rport}`, `${ra.rhost}:${ra.rport}`, ip2);
});

labs.test(
  "server 1 killed (SIGKILL) while a waits with both servers listed; b arrives at server 2: they connect",
  async () => {
    const { lab, secret, a, b, ip1, ip2, s1 } = await cluster();
    const pa = startPeer(lab, a.host, "a", ip1, secret, [
      "--server",
      `${ip2}:${SERVER_PORT}`,
      "--timeout",
      "60",
    ]);
    await waitStderr(
      pa,
      new RegExp(`waiting for the partner in session "default" at ${ip2.replaceAll(".", "\\.")}`),
    );
    await waitStderr(
      pa,
      new RegExp(`waiting for the partner in session "default" at ${ip1.replaceAll(".", "\\.")}`),
    );
    s1.kill("SIGKILL");
    expect(await s1.exited).not.toBe(0);
    // a is still in the store; b registers only at server 2, which pairs them and tells a itself (at once,
    // or at a's next keepalive there if server 1 held a last).
    const pb = startPeer(lab, b.host, "b", ip2, secret, ["--timeout", "60"]);
    const [oa, ob] = await Promise.all([finish(pa, 70_000), finish(pb, 70_000)]);
    expect([oa.json.rhost, oa.json.rport]).toEqual([b.publicIp, PEER_PORT]);
    expect([ob.json.rhost, ob.json.rport]).toEqual([a.publicIp, PEER_PORT]);
    const [ra, rb] = [oa.json, ob.json];
    await provePath(lab, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, ip2);
  },
);

labs.test(
  "Redis killed (SIGKILL) and started again empty while a waits at server 1; b arrives at server 2: they connect",
  async () => {
    const { lab, secret, a, b, ip1, ip2, s1, s2, restartRedis } = await cluster();
    const pa = startPeer(lab, a.host, "a", ip1, secret, ["--timeout", "60"]);
    await waitStderr(pa, /waiting for the partner/);
    await waitStderr(s1, /peer a registered from/);
    // No persistence (--save "", --appendonly no): the Redis that comes back holds no session at all.
    await restartRedis();
    for (const s of [s1, s2]) await waitStderr(s, /is back: sessions are shared again/, 15_000);
    // b finds no a in the store; a's next keepalive at server 1 (15 s) registers it again, and that server
    // pairs them: a's MATCH from the server its NAT lets in, b's handed over to server 2.
    const pb = startPeer(lab, b.host, "b", ip2, secret, ["--timeout", "60"]);
    const [oa, ob] = await Promise.all([finish(pa, 70_000), finish(pb, 70_000)]);
    expect([oa.json.rhost, oa.json.rport]).toEqual([b.publicIp, PEER_PORT]);
    expect([ob.json.rhost, ob.json.rport]).toEqual([a.publicIp, PEER_PORT]);
    for (const s of [s1, s2]) {
      expect(s.output().stderr.match(/store redis:\/\/\S+ is down \(/g)).toHaveLength(1);
      expect(s.output().stderr.match(/store redis:\/\/\S+ is back:/g)).toHaveLength(1);
    }
    // a's registration was made again in the empty store: server 1 saw it register a second time.
    expect(s1.output().stderr.match(/peer a registered from/g)).toHaveLength(2);
    const [ra, rb] = [oa.json, ob.json];
    await provePath(lab, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, ip1);
  },
);

labs.test(
  "a behind a symmetric NAT (another port for each server) and b on a public address, both listing both servers: one pair, one path",
  async () => {
    const { lab, secret, a, b, ip1, ip2, s1, s2 } = await cluster(["symmetric", "public"]);
    const both = (ip: string) => ["--server", `${ip}:${SERVER_PORT}`];
    const pa = startPeer(lab, a.host, "a", ip1, secret, both(ip2));
    await waitStderr(pa, /waiting for the partner/);
    const pb = startPeer(lab, b.host, "b", ip1, secret, both(ip2));
    const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
    expect(oa.json.rhost).toBe(b.publicIp);
    expect(ob.json.rhost).toBe(a.publicIp);
    // One store: one pair for both servers, however many copies of each REGISTER each server saw.
    const made = [s1, s2].reduce((n, s) => n + (s.output().stderr.match(/paired a=/g)?.length ?? 0), 0);
    expect(made).toBe(1);
    const [ra, rb] = [oa.json, ob.json];
    await provePath(lab, b.host, a.host, `${rb.rhost}:${rb.rport}`, `${ra.rhost}:${ra.rport}`);
  },
);

labs.test(
  "both behind symmetric NATs, a only at server 1, b only at server 2: both bind at the one relay one server opened",
  async () => {
    // Each server listens on every address and tells other servers' peers its public one for its relays.
    const relayAt = (ip: string) => ["--relay", "--relay-host", ip];
    const { lab, secret, a, b, ip1, ip2, s1, s2 } = await cluster(["symmetric", "symmetric"], relayAt);
    const pa = startPeer(lab, a.host, "a", ip1, secret);
    await waitStderr(pa, /waiting for the partner/);
    const pb = startPeer(lab, b.host, "b", ip2, secret);
    const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
    expect([oa.json.via, ob.json.via]).toEqual(["relay", "relay"]);
    // One relay, on one of the two servers, which both peers talk to.
    expect([oa.json.rhost, oa.json.rport]).toEqual([ob.json.rhost, ob.json.rport]);
    expect([ip1, ip2]).toContain(oa.json.rhost);
    const opened = [s1, s2].map(
      (s) => s.output().stderr.match(/relay for pair [0-9a-f]{8} on UDP port \d+/g) ?? [],
    );
    expect(opened.flat()).toHaveLength(1);
    expect(opened.flat()[0]).toEndWith(`on UDP port ${oa.json.rport}`);
    // The one whose log says so is the server at that address.
    expect(opened[oa.json.rhost === ip1 ? 0 : 1]).toHaveLength(1);
    // The hole is real after netpunch has exited: the relay forwards between the two bound mappings.
    const relay = `${oa.json.rhost}:${oa.json.rport}`;
    await provePath(lab, a.host, b.host, relay, relay);
    await provePath(lab, b.host, a.host, relay, relay);
  },
);
