import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { formatEndpoint, normalizeHost, parseAddress, sameEndpoint } from "./addr.ts";
import { SecureChannel } from "./channel.ts";
import { NetpunchError } from "./errors.ts";
import { classifyMapping, type Verdict, verdict } from "./nat.ts";
import { deriveKey } from "./protocol/auth.ts";
import type { NatInfo } from "./protocol/messages.ts";
import { ReplayGuard } from "./protocol/replay.ts";
import { resolveServer } from "./resolve.ts";
import type { TransportFactory } from "./transport/types.ts";
import { openUdp } from "./transport/udp.ts";
import type { Endpoint } from "./types.ts";

export interface DoctorOptions {
  server: string | Endpoint;
  secret: string | Uint8Array;
  /** @default 3_000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  transport?: TransportFactory;
}

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
  const seen = new Map<ProbeKey, { observed?: Endpoint; altPort?: number }>();
  const ids: Record<ProbeKey, number> = { first: 1, firstViaAlt: 2, second: 3, filter: 4, hairpin: 5 };
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
      { replay },
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
    const deadline = Date.now() + (o.timeoutMs ?? 3_000);
    let altPort = 0;
    const probe = (ch: SecureChannel, to: Endpoint, k: ProbeKey, fromOtherPort = false) =>
      ch.send(to, { type: "probe", probeId: ids[k], fromOtherPort });
    // Retransmit what is unanswered every 250 ms: loss must not look like filtering.
    while (Date.now() < deadline && !o.signal?.aborted) {
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
      if (done && Date.now() > deadline - 1_000) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 250);
      });
    }
    if (o.signal?.aborted) throw new NetpunchError("E_ABORTED", "cancelled", "");
    const first = seen.get("first")?.observed;
    if (!first) {
      throw new NetpunchError(
        "E_SERVER_SILENT",
        `no authenticated answer from the server ${formatEndpoint(server)}`,
        "check the secret, the address, and that the server's UDP port is open",
      );
    }
    if (!altPort) {
      throw new NetpunchError(
        "E_USAGE",
        `the server ${formatEndpoint(server)} has no second port for NAT probing`,
        "start it with serve --alt-port PORT (and open that UDP port too)",
      );
    }
    const viaAlt = seen.get("firstViaAlt")?.observed;
    const second = seen.get("second")?.observed;
    if (!viaAlt || !second) {
      throw new NetpunchError(
        "E_SERVER_SILENT",
        `the server's alt port ${altPort} did not answer`,
        `open UDP port ${altPort} on the server as well`,
      );
    }
    const local1 = s1.transport?.local.port ?? 0;
    const nat = classifyMapping(first, viaAlt, { port: local1, hosts: ownHosts() });
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

function ownHosts(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .map((i) => normalizeHost(i.address));
}
