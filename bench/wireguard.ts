// A WireGuard tunnel (wireguard-go, the wireguard hook) between two public lab hosts without added delay,
// carried two ways in the same run: the direct hand-off (wireguard-go binds the punched port and the kernel
// carries its UDP: the baseline) and proxy mode (`connect --proxy`: wireguard-go talks to netpunch on
// loopback, netpunch seals each datagram as DATA). Per round and pair, in turn (interleaved, so a
// disturbance from outside hits both alike): a bounded TCP transfer through the tunnel (socat, BYTES from
// a to b), its goodput and the CPU the two netpunch processes spent on it, and ping round trips through the
// tunnel, p50/p99; then the proxy's figures over the hand-off's, round by round. Needs root (namespaces).
// Usage: bun bench/wireguard.ts [--repeat N] [--mbytes M] [--pings N]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { type Host, Lab, type LabProcess } from "../lab/lab.ts";
import { secretFile, startServer, waitStderr } from "../lab/netpunch.ts";
import { keyPair, setconfFile, startWgPeer } from "../lab/wg.ts";
import { cpuUs } from "./lib/processes.ts";
import { median, percentile } from "./lib/proxy-stats.ts";

const { values } = parseArgs({
  options: {
    repeat: { type: "string", default: "3" },
    mbytes: { type: "string", default: "40" },
    pings: { type: "string", default: "200" },
  },
});
const REPEAT = Number(values.repeat);
const BYTES = Number(values.mbytes) * 1_000_000;
const PINGS = Number(values.pings);
/** 10 ms apart: a low rate, so a round trip measures the path, not a queue (and ping allows it as root). */
const PING_INTERVAL_S = "0.01";
/** The TCP port the sink listens on inside the tunnel. */
const SINK_PORT = 5001;
/** A transfer that takes longer than this went wrong (1 Gbit/s moves 40 MB in a third of a second). */
const TRANSFER_TIMEOUT_S = 60;
/** Both pairs meet and hand over within seconds on the lab; this bounds a start that went wrong. */
const HANDSHAKE_MS = 30_000;
/** The sink needs a moment to listen before the sender connects. */
const LISTEN_MS = 200;

interface Pair {
  name: string;
  a: Host;
  b: Host;
  /** The tunnel addresses (inside WireGuard), from 198.18.0.0/15 as the lab's own are. */
  tunnelB: string;
  peers: LabProcess[];
}

interface Sample {
  pair: string;
  round: number;
  mbitPerS: number;
  /** CPU of both netpunch processes per MB carried, in ms. */
  cpuMsPerMb: number;
  rtts: number[];
}

/** A sink in b's namespace, a bounded sender in a's; goodput from the sender's start to its end. */
async function transfer(lab: Lab, p: Pair): Promise<{ mbitPerS: number; cpuMsPerMb: number }> {
  const sink = lab.spawn(p.b, [
    "timeout",
    String(TRANSFER_TIMEOUT_S),
    "socat",
    "-u",
    `TCP-LISTEN:${SINK_PORT},bind=${p.tunnelB},reuseaddr`,
    "OPEN:/dev/null",
  ]);
  await Bun.sleep(LISTEN_MS);
  const cpu = () => p.peers.reduce((n, peer) => n + cpuUs(peer.pid), 0);
  const cpu0 = cpu();
  const t0 = performance.now();
  const r = lab.exec(
    p.a,
    [
      "timeout",
      String(TRANSFER_TIMEOUT_S),
      "sh",
      "-c",
      `head -c ${BYTES} /dev/zero | socat -u STDIN TCP:${p.tunnelB}:${SINK_PORT}`,
    ],
    (TRANSFER_TIMEOUT_S + 5) * 1000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpuUsed = cpu() - cpu0;
  await sink.exited;
  if (r.code !== 0) throw new Error(`${p.name}: transfer failed (${r.code}): ${r.stderr}`);
  return { mbitPerS: (BYTES * 8) / 1e6 / seconds, cpuMsPerMb: cpuUsed / 1000 / (BYTES / 1e6) };
}

/** ping through the tunnel: each reply's time. */
function pings(lab: Lab, p: Pair): number[] {
  const r = lab.exec(p.a, ["ping", "-c", String(PINGS), "-i", PING_INTERVAL_S, "-W", "2", p.tunnelB], 60_000);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length < PINGS / 2) throw new Error(`${p.name}: ${rtts.length} of ${PINGS} pings answered`);
  return rtts;
}

const lab = Lab.create();
const samples: Sample[] = [];
const keys = mkdtempSync(join(tmpdir(), "netpunch-bench-wg-"));
/** A strong secret (32+ bytes: no scrypt), so start-up is quick. */
const secret = secretFile("bench-wireguard-secret-0123456789abcdefghij");
try {
  const server = lab.host("srv");
  const serverIp = await lab.attachPublic(server);
  await startServer(lab, server, secret);
  const pairs: Pair[] = [];
  // One pair per way, each on its own two hosts (one interface name, port and session each).
  for (const [i, name, extra] of [
    [0, "kernel", [] as string[]],
    [1, "proxy", ["--proxy"]],
  ] as const) {
    const a = lab.host(`${name}a`);
    const b = lab.host(`${name}b`);
    await lab.attachPublic(a);
    await lab.attachPublic(b);
    const tunnel = { a: `198.18.${210 + i}.1`, b: `198.18.${210 + i}.2` };
    const ka = keyPair(lab, a);
    const kb = keyPair(lab, b);
    const session = ["--session", `bench-wg-${name}`, ...extra];
    const pa = startWgPeer(
      lab,
      a,
      "a",
      serverIp,
      secret,
      {
        partnerPub: kb.pub,
        config: setconfFile(keys, `${name}-a`, ka.priv, kb.pub, tunnel.b),
        address: `${tunnel.a}/24`,
      },
      session,
    );
    const pb = startWgPeer(
      lab,
      b,
      "b",
      serverIp,
      secret,
      {
        partnerPub: ka.pub,
        config: setconfFile(keys, `${name}-b`, kb.priv, ka.pub, tunnel.a),
        address: `${tunnel.b}/24`,
      },
      session,
    );
    await Promise.all([
      waitStderr(pa, /handshake with/, HANDSHAKE_MS),
      waitStderr(pb, /handshake with/, HANDSHAKE_MS),
    ]);
    pairs.push({ name, a, b, tunnelB: tunnel.b, peers: [pa, pb] });
  }
  // Not measured: TCP's window opens, wireguard-go and the proxies' JIT warm up.
  for (const p of pairs) await transfer(lab, p);
  console.log(
    `bench/wireguard: lab, no added delay, ${navigator.hardwareConcurrency} cores (shared with whatever ` +
      `else runs), ${BYTES / 1e6} MB TCP per transfer, ${PINGS} pings ${PING_INTERVAL_S} s apart, ${REPEAT} round(s)`,
  );
  console.log("  pair    round  Mbit/s  netpunch CPU ms/MB  ping p50 ms   p99");
  for (let round = 0; round < REPEAT; round++)
    for (const p of pairs) {
      const t = await transfer(lab, p);
      const rtts = pings(lab, p);
      samples.push({ pair: p.name, round, ...t, rtts });
      console.log(
        `  ${p.name.padEnd(7)} ${String(round).padStart(5)} ${t.mbitPerS.toFixed(0).padStart(7)} ` +
          `${t.cpuMsPerMb.toFixed(2).padStart(19)} ${percentile(rtts, 50).toFixed(3).padStart(12)} ` +
          `${percentile(rtts, 99).toFixed(3).padStart(5)}`,
      );
    }
} finally {
  await lab.cleanup();
  rmSync(keys, { recursive: true, force: true });
  rmSync(dirname(secret), { recursive: true, force: true });
}

// Round by round: the proxy's figure over the hand-off's in the same round, min-max (median).
const range = (xs: number[], digits: number, unit = "") =>
  xs.length === 0
    ? "-"
    : `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}${unit} (${median(xs).toFixed(digits)}${unit})`;
const byRound = (f: (proxy: Sample, kernel: Sample) => number) =>
  samples
    .filter((s) => s.pair === "proxy")
    .flatMap((s) => {
      const k = samples.find((x) => x.pair === "kernel" && x.round === s.round);
      return k ? [f(s, k)] : [];
    });
console.log(`summary over ${REPEAT} round(s), min-max (median):`);
console.log(
  `  throughput, proxy over the hand-off: ${range(
    byRound((p, k) => p.mbitPerS / k.mbitPerS),
    2,
    "x",
  )}`,
);
console.log(
  `  ping p50 added by the proxy (both directions): ${range(
    byRound((p, k) => percentile(p.rtts, 50) - percentile(k.rtts, 50)),
    3,
    " ms",
  )}`,
);
console.log(
  `  ping p99 added by the proxy (both directions): ${range(
    byRound((p, k) => percentile(p.rtts, 99) - percentile(k.rtts, 99)),
    3,
    " ms",
  )}`,
);
console.log(
  `  the proxy's netpunch CPU per MB carried: ${range(
    samples.filter((s) => s.pair === "proxy").map((s) => s.cpuMsPerMb),
    2,
    " ms",
  )}`,
);
