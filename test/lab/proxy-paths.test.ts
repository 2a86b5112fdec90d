// Proxy mode moving a live WireGuard tunnel between the relay and a direct path, under `netpunch up`
// (proxy = true) on both sides of two real NATs, with the server's relay. An nftables rule on a's gateway
// drops every UDP datagram between a and b's public address (the server and its relay stay reachable):
// - relay first, then direct: the rule is there from the start, so the tunnel comes up on the relay and
//   pings through it; the rule goes, the proxies find the direct path and move the tunnel there while a
//   ping runs through it, losing next to nothing;
// - direct dies, relay, direct again: the tunnel comes up direct; the rule comes, both proxies fall back to
//   the relay and the ping goes on there, having lost only what went out until both had moved; the rule
//   goes, and after the hold they move back to direct.
// The status shows each path in the order it carried the tunnel. Needs root:
// `bun test test/lab/proxy-paths.test.ts`.
import { expect } from "bun:test";
import { type Host, type Lab, type LabProcess, labPerTest } from "../../lab/lab.ts";
import { exitWithin, SERVER_PORT, secretFile, startServer } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import {
  pingsWithin,
  startUp,
  type TunnelStatusLine,
  tunnelState,
  waitStatus,
  writeConfig,
} from "../../lab/up.ts";

/** Two supervisors, two wireguard-go, a switch or three with holds between: more than the lab's minute. */
const TEST_MS = 180_000;
/** How long a supervisor may take to bring a tunnel up, including a WireGuard handshake retry (5 s). */
const UP_WITHIN_MS = 40_000;
/**
 * How long a move to a path that just opened may take: probes of an unproven path grow 1.5x apart up to
 * 15 s (PathTimings.probeMaxMs), then 3 answers 200 ms apart; a partner's probe arriving brings ours sooner.
 */
const UPGRADE_WITHIN_MS = 40_000;
/** The fallback comes 3.2 to 4.2 s after the direct path died (README, "Upkeep"); bounded far above that. */
const FALLBACK_WITHIN_MS = 20_000;
/** The ping's gap: 5 echo requests a second show a switch's loss to the packet. */
const PING_GAP_S = 0.2;
/** Upper bound on any one ping's length (600 x 0.2 s = 2 minutes): it is stopped long before, by SIGINT. */
const PING_COUNT = 600;
/** Echo replies to see after a switch (2 s of them) before the ping is stopped: the new path carries. */
const REPLIES_AFTER = 10;
/**
 * At most this many echo requests lost across a move to direct. Both sides deliver what arrives on either
 * path, and the relay goes on forwarding while each side moves on its own, so the move itself drops
 * nothing; the slack is for a datagram the loaded 2-core machine drops from a full socket buffer.
 */
const MAX_UPGRADE_LOSS = 2;
/** The echo request (or its reply) in flight as the later side moved may be lost too. */
const IN_FLIGHT = 1;

const TUNNEL = { a: "198.18.201.1", b: "198.18.201.2" } as const;
const NAME = "office";

const labs = labPerTest({ timeoutMs: TEST_MS });

interface ProxyLine {
  path?: "direct" | "relay";
  switches?: number;
  lastSwitch?: { at: number; to: "direct" | "relay"; reason: string };
  relayReady?: boolean;
}
type ProxiedTunnel = TunnelStatusLine & { proxy?: ProxyLine };

const office = (ts: TunnelStatusLine[]) => tunnelState(ts, NAME) as ProxiedTunnel | undefined;

/**
 * The nft table on a's gateway that drops every UDP datagram between a's LAN and b's public address, both
 * ways, in the forward hook: the server (another address) and its relay stay reachable.
 */
function directBlock(lab: Lab, gateway: Host, partnerPublic: string) {
  const nft = (...cmd: string[]) => {
    const r = lab.exec(gateway, ["nft", ...cmd]);
    if (r.code !== 0) throw new Error(`nft ${cmd.join(" ")}: ${r.stderr}`);
  };
  return {
    on() {
      nft("add table inet np_paths");
      nft("add chain inet np_paths gate { type filter hook forward priority 0; policy accept; }");
      nft(`add rule inet np_paths gate ip daddr ${partnerPublic} meta l4proto udp drop`);
      nft(`add rule inet np_paths gate ip saddr ${partnerPublic} meta l4proto udp drop`);
    },
    off: () => nft("delete table inet np_paths"),
  };
}

/** A ping through the tunnel, PING_GAP_S apart, read as it goes: which echo requests were answered. */
function startPing(lab: Lab, from: Host, to: string) {
  const p = lab.spawn(from, ["ping", "-n", "-i", String(PING_GAP_S), "-c", String(PING_COUNT), to]);
  const answered = () => new Set([...p.output().stdout.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  const lastAnswered = () => Math.max(0, ...answered());
  return {
    answered,
    lastAnswered,
    /** Waits (bounded) until an echo request numbered `seq` or later is answered. */
    async answeredUpTo(seq: number, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (lastAnswered() < seq) {
        if (Date.now() > deadline || p.proc.exitCode !== null)
          throw new Error(`no echo reply numbered ${seq} or later:\n${p.output().stdout}`);
        await Bun.sleep(50);
      }
    },
    /** Stops it (SIGINT, so it prints its summary); the requests up to the last answered one never answered. */
    async stop(): Promise<{ lost: number[]; answered: number; stdout: string }> {
      p.kill("SIGINT");
      await p.exited;
      const got = answered();
      const last = lastAnswered();
      const lost: number[] = [];
      for (let seq = 1; seq <= last; seq++) if (!got.has(seq)) lost.push(seq);
      return { lost, answered: got.size, stdout: p.output().stdout };
    },
  };
}

/** Waits (bounded) until `pattern` has appeared `n` times in the process's stderr. */
async function waitLines(p: LabProcess, pattern: RegExp, n: number, timeoutMs: number): Promise<void> {
  const global = new RegExp(pattern.source, "g");
  const deadline = Date.now() + timeoutMs;
  while ((p.output().stderr.match(global) ?? []).length < n) {
    if (Date.now() > deadline || p.proc.exitCode !== null)
      throw new Error(`waiting for ${n} x ${pattern}:\n${p.output().stderr}`);
    await Bun.sleep(50);
  }
}

/**
 * The paths a's status showed, in order, each once per stretch (polled by waitStatus while it waits):
 * what `recorder.until(path)` saw on the way to `path`.
 */
function pathRecorder(lab: Lab, host: Host, file: string) {
  const seen: string[] = [];
  const lines: ProxiedTunnel[] = [];
  const note = (t: ProxiedTunnel | undefined) => {
    if (t?.state !== "up" || !t.path || !t.proxy?.path) return;
    lines.push(t);
    const now = `${t.path}/${t.proxy.path}`;
    if (seen.at(-1) !== now) seen.push(now);
  };
  return {
    seen,
    async until(ok: (t: ProxiedTunnel) => boolean, timeoutMs: number, what: string): Promise<ProxiedTunnel> {
      const ts = await waitStatus(
        lab,
        host,
        file,
        (ts) => {
          const t = office(ts);
          note(t);
          return t !== undefined && t.state === "up" && ok(t);
        },
        timeoutMs,
        what,
      );
      return office(ts) as ProxiedTunnel;
    },
  };
}

async function pairUp() {
  const lab = labs.create();
  const secret = secretFile();
  const dir = labs.tempDir("netpunch-proxy-paths-");
  const placed = await serverAndPair(lab, "nat", "nat");
  const gateway = placed.a.gateway;
  if (!gateway) throw new Error("a has no gateway");
  await startServer(lab, placed.server, secret, ["--relay", "--relay-ports", "20000-20009"]);
  const server = `${placed.serverIp}:${SERVER_PORT}`;
  const config = (name: string, role: "a" | "b", address: string) =>
    writeConfig(dir, name, {
      servers: [server],
      secretFile: secret,
      tunnels: {
        [NAME]: { role, session: "lab-paths", local: ":10000", hook: "wireguard", address, proxy: true },
      },
    });
  const fa = config("home", "a", `${TUNNEL.a}/24`);
  const fb = config("office", "b", `${TUNNEL.b}/24`);
  return {
    lab,
    a: placed.a.host,
    b: placed.b.host,
    fa,
    fb,
    block: directBlock(lab, gateway, placed.b.publicIp),
  };
}

/** Moved once 3 probes answered in a row; after a hold, the streak that built up while it lasted. */
const MOVED = /proxy: moved to direct \(\d+ probes answered in a row\)/;
const LOST = /proxy: direct path lost, back to the relay \(no answer on the direct path for \d+ s\)/;

labs.test(
  "relay first, then direct: blocked at first, the tunnel pings through the relay; unblocked, it moves to direct under a running ping that loses next to nothing",
  async () => {
    const { lab, a, b, fa, fb, block } = await pairUp();
    block.on();
    const pa = startUp(lab, a, fa);
    const pb = startUp(lab, b, fb);
    const seenA = pathRecorder(lab, a, fa);
    const onRelay = (t: ProxiedTunnel) => t.proxy?.path === "relay";
    await Promise.all([
      seenA.until(onRelay, UP_WITHIN_MS, "a's tunnel up on the relay"),
      pathRecorder(lab, b, fb).until(onRelay, UP_WITHIN_MS, "b's tunnel up on the relay"),
    ]);
    expect(pa.output().stderr).toMatch(/proxy: on the relay; probing for a direct path/);
    // The tunnel carries at once, through the relay: the direct path is still blocked.
    expect(pingsWithin(lab, a, TUNNEL.b)).toBe(true);
    expect(pingsWithin(lab, b, TUNNEL.a)).toBe(true);
    expect((await seenA.until(onRelay, 5_000, "a still on the relay")).proxy?.switches).toBe(0);

    const ping = startPing(lab, a, TUNNEL.b);
    await ping.answeredUpTo(REPLIES_AFTER); // the ping runs through the relay first
    block.off();
    await Promise.all([
      waitLines(pa, MOVED, 1, UPGRADE_WITHIN_MS),
      waitLines(pb, MOVED, 1, UPGRADE_WITHIN_MS),
    ]);
    const direct = await seenA.until(
      (t) => t.proxy?.path === "direct",
      10_000,
      "a's status on the direct path",
    );
    const movedAt = ping.lastAnswered();
    await ping.answeredUpTo(movedAt + REPLIES_AFTER);
    const run = await ping.stop();

    console.log(
      `relay to direct: ${run.lost.length} of ${run.answered + run.lost.length} echo requests lost`,
    );
    expect(seenA.seen).toEqual(["relay/relay", "direct/direct"]);
    expect(pa.output().stderr).toMatch(/proxy: moved to direct \(3 probes answered in a row\)/);
    expect(direct.proxy).toMatchObject({
      path: "direct",
      lastSwitch: { to: "direct", reason: "3 probes answered in a row" },
    });
    expect(direct.proxy?.switches).toBeGreaterThanOrEqual(1);
    expect(run.lost.length, `lost echo requests ${run.lost.join(", ")}\n${run.stdout}`).toBeLessThanOrEqual(
      MAX_UPGRADE_LOSS,
    );
    expect(pingsWithin(lab, b, TUNNEL.a)).toBe(true);

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
  },
);

labs.test(
  "direct dies, relay, direct again: a blocked direct path falls back to the relay and the ping goes on there; unblocked, the tunnel moves back to direct after the hold",
  async () => {
    const { lab, a, b, fa, fb, block } = await pairUp();
    const pa = startUp(lab, a, fa);
    const pb = startUp(lab, b, fb);
    const seenA = pathRecorder(lab, a, fa);
    const seenB = pathRecorder(lab, b, fb);
    // Direct, with the relay bound on both sides to fall back to.
    const ready = (t: ProxiedTunnel) => t.proxy?.path === "direct" && t.proxy.relayReady === true;
    await Promise.all([
      seenA.until(ready, UP_WITHIN_MS, "a's tunnel up direct, the relay ready"),
      seenB.until(ready, UP_WITHIN_MS, "b's tunnel up direct, the relay ready"),
    ]);
    expect(pa.output().stderr).toMatch(/proxy: the relay is ready to fall back to/);
    expect(pa.output().stderr).not.toMatch(/proxy: on the relay; probing/);

    const ping = startPing(lab, a, TUNNEL.b);
    await ping.answeredUpTo(REPLIES_AFTER); // through the direct path
    const blockedAt = Date.now();
    block.on();
    await Promise.all([
      waitLines(pa, LOST, 1, FALLBACK_WITHIN_MS),
      waitLines(pb, LOST, 1, FALLBACK_WITHIN_MS),
    ]);
    const onRelay = (t: ProxiedTunnel) => t.proxy?.path === "relay";
    const [relayed, relayedB] = await Promise.all([
      seenA.until(onRelay, 10_000, "a's status on the relay"),
      seenB.until(onRelay, 10_000, "b's status on the relay"),
    ]);
    expect([relayed.proxy?.lastSwitch?.to, relayedB.proxy?.lastSwitch?.to]).toEqual(["relay", "relay"]);
    expect(relayed.proxy?.lastSwitch?.reason).toMatch(/^no answer on the direct path for \d+ s$/);
    const fellBackAt = ping.lastAnswered();
    await ping.answeredUpTo(fellBackAt + REPLIES_AFTER); // the ping goes on, through the relay
    const fallback = await ping.stop();
    // Lost: what went out while the dead direct path still carried one way or the other, from the rule
    // until the later of the two sides had moved (both stamped their switch on this machine's clock); none
    // after that, but the one in flight.
    const bothMovedAt = Math.max(relayed.proxy?.lastSwitch?.at ?? 0, relayedB.proxy?.lastSwitch?.at ?? 0);
    const maxLost = Math.ceil((bothMovedAt - blockedAt) / (PING_GAP_S * 1000)) + IN_FLIGHT + MAX_UPGRADE_LOSS;
    const why = `lost echo requests ${fallback.lost.join(", ")} (at most ${maxLost})\n${fallback.stdout}`;
    expect(fallback.lost.length, why).toBeLessThanOrEqual(maxLost);
    // One stretch, from the rule to the move (the rule did cut the path the ping was on): before it the
    // direct path carried every one, after it the relay.
    expect(fallback.lost.length, why).toBeGreaterThan(0);
    expect((fallback.lost.at(-1) ?? 0) - (fallback.lost[0] ?? 0) + 1, why).toBe(fallback.lost.length);

    const again = startPing(lab, a, TUNNEL.b);
    await again.answeredUpTo(REPLIES_AFTER);
    block.off();
    await Promise.all([
      waitLines(pa, MOVED, 1, UPGRADE_WITHIN_MS),
      waitLines(pb, MOVED, 1, UPGRADE_WITHIN_MS),
    ]);
    const onDirect = (t: ProxiedTunnel) => t.proxy?.path === "direct";
    const [back] = await Promise.all([
      seenA.until(onDirect, 10_000, "a's status direct again"),
      seenB.until(onDirect, 10_000, "b's status direct again"),
    ]);
    const upgradedAt = again.lastAnswered();
    await again.answeredUpTo(upgradedAt + REPLIES_AFTER);
    const upgrade = await again.stop();

    console.log(
      `direct to relay: ${fallback.lost.length} lost (at most ${maxLost}); back to direct: ${upgrade.lost.length} lost`,
    );
    expect([seenA.seen, seenB.seen]).toEqual([
      ["direct/direct", "relay/relay", "direct/direct"],
      ["direct/direct", "relay/relay", "direct/direct"],
    ]);
    expect(back.proxy?.lastSwitch?.to).toBe("direct");
    // The streak that built up while the hold lasted: 3 or more.
    expect(
      Number(back.proxy?.lastSwitch?.reason.match(/^(\d+) probes answered in a row$/)?.[1]),
    ).toBeGreaterThanOrEqual(3);
    expect(back.proxy?.switches).toBeGreaterThanOrEqual(2);
    // The hold itself (no move back before it ends) is the fake-clock tests' to check: test/unit/proxy/paths.test.ts.
    expect(
      upgrade.lost.length,
      `lost echo requests ${upgrade.lost.join(", ")}\n${upgrade.stdout}`,
    ).toBeLessThanOrEqual(MAX_UPGRADE_LOSS);

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
  },
);
