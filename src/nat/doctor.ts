import { formatEndpoint, isIP, normalizeHost, parseAddress, sameEndpoint } from "../addr.ts";
import { Backoff, type BackoffSchedule } from "../backoff.ts";
import { Fail } from "../errors.ts";
import { deriveKey } from "../protocol/auth.ts";
import { SecureChannel } from "../protocol/channel.ts";
import type { NatInfo } from "../protocol/messages.ts";
import { ReplayGuard } from "../protocol/replay.ts";
import { type InterfaceAddress, systemInterfaces } from "../punch/candidates.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { resolveServer } from "../sys/dns.ts";
import { type Random, systemRandom } from "../sys/random.ts";
import { settleOnce } from "../sys/settle.ts";
import type { TransportFactory } from "../transport/types.ts";
import { openUdp } from "../transport/udp.ts";
import type { Endpoint } from "../types.ts";
import { classifyMapping, type Verdict, verdict } from "./classify.ts";

export interface DoctorOptions {
  server: string | Endpoint;
  secret: string | Uint8Array;
  /** @default 3_000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  transport?: TransportFactory;
  /** For tests: the time and the timers. @default the system clock */
  clock?: Clock;
  /** For tests: the probe ids and nonces. @default systemRandom (the OS CSPRNG) */
  random?: Random;
  /** For tests: this host's addresses (a public host's mapping is "none"). @default os.networkInterfaces() */
  interfaces?: () => InterfaceAddress[];
}

/** Every 250 ms (a fixed interval), what is unanswered goes again: loss must not look like filtering. */
const PROBE_RETRY: BackoffSchedule = {
  firstMs: 250,
  factor: 1,
  maxMs: 250,
  maxTries: Number.POSITIVE_INFINITY, // the deadline ends it
};
/**
 * @default 1_000: once mapping is known, filtering and hairpin (which never answer when the NAT says no) get
 * until this long before the deadline, no longer.
 */
const NO_ANSWER_GRACE_MS = 1_000;

export interface DoctorReport {
  server: string;
  altPort: number;
  local: string;
  /** What the server's main and alt port saw for one socket, and the main port for a second socket. */
  observed: { first: string; firstViaAlt: string; second: string };
  nat: NatInfo;
  portPreserved: boolean;
  /** Whether a reply from a port we never sent to got in (RFC 4787 filtering). */
  filtering: "endpoint-independent" | "address-and-port-dependent";
  hairpin: boolean;
  verdict: Verdict;
  explanation: string;
}

type ProbeKey = "first" | "firstViaAlt" | "second" | "filter" | "hairpin";

/**
 * The five probes' ids from 4 random bytes: a reply (or hairpin probe) replayed from an earlier run names
 * none of them. Each is a u32, as the wire requires.
 */
export function probeIds(random4: Uint8Array): Record<ProbeKey, number> {
  const base = (Buffer.from(random4).readUInt32BE(0) & ~0xf) >>> 0; // & is signed in JS: back to u32
  return { first: base + 1, firstViaAlt: base + 2, second: base + 3, filter: base + 4, hairpin: base + 5 };
}

/**
 * Learns this host's NAT behaviour from a server with --alt-port: three sockets, five probes.
 * 1. socket 1 -> main and -> alt: same public port means endpoint-independent mapping;
 * 2. socket 2 -> main: the step between mappings (sequential allocators);
 * 3. socket 3 -> main, asking for the answer from the alt port: does the NAT let in a port we never sent to;
 * 4. socket 2 -> socket 1's public address: does the NAT hairpin.
 */
export async function doctor(o: DoctorOptions): Promise<DoctorReport> {
  const server = await resolveServer(
    typeof o.server === "string" ? parseAddress(o.server, "server address") : o.server,
  );
  const bindHost = isIP(server.host) === 6 ? "::" : "0.0.0.0";
  const key = deriveKey(o.secret);
  const replay = new ReplayGuard();
  const factory = o.transport ?? openUdp;
  const clock = o.clock ?? systemClock;
  const random = o.random ?? systemRandom;
  const seen = new Map<ProbeKey, { observed?: Endpoint; altPort?: number }>();
  const ids = probeIds(random.bytes(4));
  const byId = new Map(Object.entries(ids).map(([k, id]) => [id, k as ProbeKey]));
  let wake: () => void = () => {};

  const socket = async (onProbe?: (id: number) => void) => {
    const ch = new SecureChannel(
      key,
      {
        onFrame(_from, frame) {
          const m = frame.msg;
          if (m.type === "probeReply") {
            const k = byId.get(m.probeId);
            if (k) seen.set(k, { observed: m.observed, altPort: m.altPort });
          } else if (m.type === "probe" && onProbe) onProbe(m.probeId);
          wake();
        },
        onDrop() {},
      },
      // Our clock may be off from the server's: replies are matched by their random ids instead.
      {
        replay,
        exempt: (m) => m.type === "probeReply" || m.type === "probe",
        clock: () => clock.now(),
        randomBytes: (n) => random.bytes(n),
      },
    );
    ch.transport = await factory({ host: bindHost, port: 0 }, (d, f) => ch.receive(d, f));
    return ch;
  };
  const s1 = await socket((id) => {
    if (id === ids.hairpin) seen.set("hairpin", {});
  });
  const s2 = await socket();
  const s3 = await socket();
  const all = [s1, s2, s3];
  try {
    const deadline = clock.now() + (o.timeoutMs ?? 3_000);
    let altPort = 0;
    const probe = (ch: SecureChannel, to: Endpoint, k: ProbeKey, fromOtherPort = false) =>
      ch.send(to, { type: "probe", probeId: ids[k], fromOtherPort });
    // Retransmit what is unanswered on PROBE_RETRY: loss must not look like filtering.
    const retry = new Backoff(PROBE_RETRY);
    while (clock.now() < deadline && !o.signal?.aborted) {
      const main = seen.get("first");
      altPort = main?.altPort ?? altPort;
      if (!main) probe(s1, server, "first");
      if (altPort && !seen.has("firstViaAlt")) probe(s1, { host: server.host, port: altPort }, "firstViaAlt");
      if (!seen.has("second")) probe(s2, server, "second");
      if (altPort && !seen.has("filter")) probe(s3, server, "filter", true);
      if (main?.observed && !seen.has("hairpin")) probe(s2, main.observed, "hairpin");
      const done = main && (altPort === 0 || (seen.has("firstViaAlt") && seen.has("second")));
      // Filtering and hairpin never answer when the NAT says no: give them until the deadline only then.
      if (done && seen.has("filter") && seen.has("hairpin")) break;
      if (done && clock.now() > deadline - NO_ANSWER_GRACE_MS) break;
      // Until the next retransmission, an answer (it may complete the plan) or the caller's abort.
      await settleOnce<void>({ clock, deadline: retry.sent(clock.now()), signal: o.signal }, (s) => {
        wake = () => s.resolve();
      });
    }
    if (o.signal?.aborted) throw Fail.aborted("doctor()");
    const first = seen.get("first")?.observed;
    if (!first) throw Fail.doctorUnanswered(formatEndpoint(server));
    if (!altPort) {
      throw Fail.noAltPort(server);
    }
    const viaAlt = seen.get("firstViaAlt")?.observed;
    const second = seen.get("second")?.observed;
    if (!viaAlt || !second) throw Fail.altPortSilent(altPort);
    const local1 = s1.transport?.local.port ?? 0;
    const nat = classifyMapping(first, viaAlt, {
      port: local1,
      hosts: ownHosts(o.interfaces?.() ?? systemInterfaces()),
    });
    const v = verdict(nat);
    return {
      server: formatEndpoint(server),
      altPort,
      local: formatEndpoint({ host: bindHost, port: local1 }),
      observed: {
        first: formatEndpoint(first),
        firstViaAlt: formatEndpoint(viaAlt),
        second: formatEndpoint(second),
      },
      nat,
      portPreserved: first.port === local1,
      filtering: seen.has("filter") ? "endpoint-independent" : "address-and-port-dependent",
      hairpin:
        seen.has("hairpin") ||
        (nat.mapping === "none" && sameEndpoint(first, { host: first.host, port: local1 })),
      verdict: v.verdict,
      explanation: v.text,
    };
  } finally {
    for (const ch of all) ch.transport?.close();
  }
}

function ownHosts(interfaces: InterfaceAddress[]): string[] {
  return interfaces.map((i) => normalizeHost(i.address));
}
