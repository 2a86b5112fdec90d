// Regression tests for attacks from the security audit, black-box: the real CLI (server and peers as separate
// processes) in the namespace lab, and an attacker that does NOT know the secret. It only captures whole
// packets on a link and sends them again (attacker.ts). Each test asserts the honest outcome: the real pair
// connects, and the attacker (or the stranger it points a victim at) gets nothing.
//
// Not covered here, because they need the secret and so are not outsider attacks: a flood of future-stamped
// packets, and spoofed RELAY_BINDs.
import { expect } from "bun:test";
import { injectSpoofed, NP_TYPE, npType, replayAndListen, sniff } from "../../lab/attacker.ts";
import { type LabProcess, labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  exitWithin,
  PEER_PORT,
  SERVER_PORT,
  secretFile,
  startPeer,
  startServer,
  UDP_TOOL,
  waitStderr,
} from "../../lab/netpunch.ts";
import { place, serverAndPair } from "../../lab/placements.ts";

/** netpunch connect's default --punch-timeout: a peer that punches the wrong address gives up after it. */
const PUNCH_TIMEOUT_MS = 10_000;
/** A peer re-registers this often while it waits (PeerTimings.keepaliveMs); a lost registration heals then. */
const KEEPALIVE_MS = 15_000;
/** How many packets a victim may still send to a stranger named in a replayed MATCH. */
const STRAY_PACKETS_ALLOWED = 8;
const WAITING = /waiting for the partner/;

// Real processes and waits for 15 s keepalives: far slower than bun test's 5 s default.
const labs = labPerTest({ timeoutMs: 120_000 });

/**
 * How a peer ended, as one line an assertion can show: "connected to IP:PORT (via)", or its exit code and
 * last error line. Bounded: a peer still running after `timeoutMs` is killed.
 */
async function outcome(p: LabProcess, timeoutMs: number): Promise<string> {
  const code = await exitWithin(p, timeoutMs);
  const stdout = (await p.stdout()).trim();
  const lines = (await p.stderr()).trim().split("\n");
  if (code === 0) {
    const r = JSON.parse(stdout) as { rhost: string; rport: number; via: string };
    return `connected to ${r.rhost}:${r.rport} (${r.via})`;
  }
  if (code === -1) return `still running after ${timeoutMs} ms`;
  const why = lines.filter((line) => /E_[A-Z_]+|error/i.test(line)).at(-1) ?? lines.at(-1);
  return `exit ${code}: ${why}`;
}

labs.test(
  "the attacker's tools: an injection arrives with the forged source, a router's capture sees it once",
  async () => {
    const l = labs.create();
    const one = l.host("one");
    const oneIp = await l.attachPublic(one);
    const two = l.host("two");
    const twoIp = await l.attachPublic(two);
    const evil = l.host("evil");
    await l.attachPublic(evil);
    const listener = l.spawn(two, [BUN, UDP_TOOL, "listen", "7000", "2", "3000"]);
    await listener.waitFor(/^listening /m);
    const tap = await sniff(l, l.internet, { dst: twoIp, dport: 7000, npType: NP_TYPE.match }, 10, 5_000);
    const fake = `4e5001${NP_TYPE.match.toString(16).padStart(2, "0")}${"00".repeat(40)}`;
    injectSpoofed(l, evil, `${oneIp}:${SERVER_PORT}`, `${twoIp}:7000`, fake, 2, 10);
    await exitWithin(listener, 5_000);
    const sources = [...(await listener.stdout()).matchAll(/^from (\S+) (\d+) /gm)].map(
      (m) => `${m[1]}:${m[2]}`,
    );
    const seen = await tap.stop();
    expect({ sources, captured: seen.map((p) => `${p.src}:${p.sport} ${p.payload}`) }).toEqual({
      sources: [`${oneIp}:${SERVER_PORT}`, `${oneIp}:${SERVER_PORT}`],
      captured: [`${oneIp}:${SERVER_PORT} ${fake}`, `${oneIp}:${SERVER_PORT} ${fake}`],
    });
    // Nothing leaves the lab: addresses outside the lab's ranges are refused.
    expect(() => injectSpoofed(l, evil, `${oneIp}:1`, "8.8.8.8:53", fake, 1)).toThrow(/not a lab address/);
  },
);

labs.test(
  "a replayed MATCH of a finished pair, spoofed from the server, does not divert a waiting peer",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const server = l.host("srv");
    const serverIp = await l.attachPublic(server);
    const oldA = await place(l, "olda", "public", "");
    const oldB = await place(l, "oldb", "public", "");
    const victim = await place(l, "v", "nat", "192.0.2");
    const partner = await place(l, "w", "nat", "198.51.100");
    const evil = l.host("evil");
    await l.attachPublic(evil);
    await startServer(l, server, secret);

    // 1. An on-path observer (the internet router) records the MATCH the server sends to a peer of an earlier
    //    pair, which names that peer's partner oldB. The pair then finishes normally.
    const tap = await sniff(
      l,
      l.internet,
      { src: serverIp, sport: SERVER_PORT, dst: oldA.publicIp, npType: NP_TYPE.match },
      1,
      30_000,
    );
    const earlier = ["--session", "earlier"];
    const pa = startPeer(l, oldA.host, "a", serverIp, secret, earlier);
    const pb = startPeer(l, oldB.host, "b", serverIp, secret, earlier);
    expect(await outcome(pa, 20_000)).toBe(`connected to ${oldB.publicIp}:${PEER_PORT} (direct)`);
    expect(await outcome(pb, 20_000)).toBe(`connected to ${oldA.publicIp}:${PEER_PORT} (direct)`);
    const [match] = await tap.waitFor(1, 5_000);
    if (!match) throw new Error("no MATCH captured");

    // 2. A new peer behind NAT waits for its partner in another session.
    const session = ["--session", "victim"];
    const pv = startPeer(l, victim.host, "a", serverIp, secret, session);
    await waitStderr(pv, WAITING);

    // 3. The attacker, elsewhere on the internet, sends the captured MATCH to the victim's public address with
    //    the server's address as the source; the victim's NAT lets it in (it matches the mapping to the server).
    //    Whatever the victim then sends to oldB, the stranger the old MATCH names, is counted there.
    const stranger = await sniff(l, oldB.host, { src: victim.publicIp }, 5_000, 60_000);
    injectSpoofed(l, evil, `${serverIp}:${SERVER_PORT}`, `${victim.publicIp}:${PEER_PORT}`, match.payload);

    // 4. The real partner comes after the victim would have given up on the stranger.
    await Bun.sleep(PUNCH_TIMEOUT_MS + 2_000);
    const pw = startPeer(l, partner.host, "b", serverIp, secret, session);
    const [ov, ow] = await Promise.all([outcome(pv, 30_000), outcome(pw, 30_000)]);
    const stray = await stranger.stop();

    const ports = [...new Set(stray.map((p) => p.dport))].join(", ");
    expect({
      victim: ov,
      partner: ow,
      toStranger:
        stray.length <= STRAY_PACKETS_ALLOWED ? "a handful" : `${stray.length} packets (ports ${ports})`,
    }).toEqual({
      victim: `connected to ${partner.publicIp}:${PEER_PORT} (direct)`,
      partner: `connected to ${victim.publicIp}:${PEER_PORT} (direct)`,
      toStranger: "a handful",
    });
  },
);

labs.test(
  "a REGISTER replayed to a restarted server from the attacker's address does not pair the partner with it",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
    const evil = l.host("evil");
    await l.attachPublic(evil);
    const first = await startServer(l, server, secret);

    // 1. A registers and waits; the internet router records its REGISTER.
    const tap = await sniff(
      l,
      l.internet,
      { src: a.publicIp, dst: serverIp, dport: SERVER_PORT, npType: NP_TYPE.register },
      1,
      30_000,
    );
    const pa = startPeer(l, a.host, "a", serverIp, secret);
    await waitStderr(pa, WAITING);
    const [register] = await tap.waitFor(1, 5_000);
    if (!register) throw new Error("no REGISTER captured");

    // 2. The server restarts with the same secret (and so forgets every nonce it has seen).
    process.kill(first.pid, "SIGTERM");
    expect(await exitWithin(first, 5_000)).not.toBe(-1);
    await startServer(l, server, secret);

    // 3. Within seconds, the attacker replays A's REGISTER from its own address and listens for answers.
    const attacker = await replayAndListen(
      l,
      evil,
      PEER_PORT,
      `${serverIp}:${SERVER_PORT}`,
      register.payload,
      KEEPALIVE_MS + 30_000,
    );

    // 4. B comes; the real A re-registers on its next keepalive (at most 15 s after it registered).
    const pb = startPeer(l, b.host, "b", serverIp, secret);
    const within = KEEPALIVE_MS + 20_000;
    const [oa, ob] = await Promise.all([outcome(pa, within), outcome(pb, within)]);
    const answers = await attacker.stop();

    expect({
      b: ob,
      a: oa,
      matchesToAttacker: answers.filter((p) => npType(p) === NP_TYPE.match).length,
    }).toEqual({
      b: `connected to ${a.publicIp}:${PEER_PORT} (direct)`,
      a: `connected to ${b.publicIp}:${PEER_PORT} (direct)`,
      matchesToAttacker: 0,
    });
  },
);

for (const [what, newPort] of [
  ["forgets every mapping (conntrack flushed)", false],
  ["forgets every mapping and maps the waiting peer to a new public port", true],
] as const)
  labs.test(`the waiting peer's NAT ${what}: the pair still connects once it re-registers`, async () => {
    const l = labs.create();
    const secret = secretFile();
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
    const gw = a.gateway;
    if (!gw) throw new Error("a has no gateway");
    await startServer(l, server, secret);

    // 1. A waits behind its NAT.
    const pa = startPeer(l, a.host, "a", serverIp, secret);
    await waitStderr(pa, WAITING);
    await Bun.sleep(1_000);

    // 2. The NAT loses A's mapping (a reboot, an expiry); optionally its next mapping gets another port.
    const publicPort = newPort ? 20_000 : PEER_PORT;
    if (newPort) {
      const snat = ["-o", "wan0", "-p", "udp", "-j", "MASQUERADE", "--to-ports", String(publicPort)];
      const r = l.exec(gw, ["iptables", "-t", "nat", "-I", "POSTROUTING", "1", ...snat]);
      if (r.code !== 0) throw new Error(`iptables failed: ${r.stderr}`);
    }
    l.flushConntrack(gw);

    // 3. B comes. A's next keepalive re-announces A (within 15 s); both must connect within 30 s.
    const pb = startPeer(l, b.host, "b", serverIp, secret);
    const [oa, ob] = await Promise.all([outcome(pa, 30_000), outcome(pb, 30_000)]);
    expect({ b: ob, a: oa }).toEqual({
      b: `connected to ${a.publicIp}:${publicPort} (direct)`,
      a: `connected to ${b.publicIp}:${PEER_PORT} (direct)`,
    });
  });
