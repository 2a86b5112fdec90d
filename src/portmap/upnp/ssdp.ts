// SSDP (UPnP Device Architecture 1.1 section 1.3): finding the gateway's IGD with M-SEARCH, the first step
// of UPnP-IGD port mapping. Only answers whose source address is the gateway count, and only a LOCATION on
// the gateway itself is handed on: nothing else on the LAN may tell us where to send HTTP.
import { Backoff, type BackoffSchedule } from "../../backoff.ts";
import { settleOnce } from "../../sys/settle.ts";
import type { Endpoint } from "../../types.ts";
import { effects, type PortMapEffects } from "../effects.ts";

export const SSDP_MULTICAST: Endpoint = { host: "239.255.255.250", port: 1900 };
export const IGD_SEARCH_TARGETS = [
  "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
  "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
  "ssdp:all",
] as const;
/**
 * M-SEARCH retransmissions: the first at once, then after 250 ms and 750 ms (one datagram per search target,
 * as many as IGD_SEARCH_TARGETS has). UDA 1.1 asks for more than one send since UDP may lose them; three fit
 * in mapPort's 1.5 s with time left for the description and SOAP.
 */
export const SSDP_RETRY: BackoffSchedule = {
  firstMs: 250,
  factor: 2,
  maxMs: Number.POSITIVE_INFINITY,
  maxTries: IGD_SEARCH_TARGETS.length,
};

/** An SSDP M-SEARCH request (UDA 1.1 section 1.3.2). */
export function encodeMSearch(st: string, target: Endpoint = SSDP_MULTICAST, mx = 1): string {
  return [
    "M-SEARCH * HTTP/1.1",
    `HOST: ${target.host}:${target.port}`,
    'MAN: "ssdp:discover"',
    `MX: ${mx}`,
    `ST: ${st}`,
    "",
    "",
  ].join("\r\n");
}

export interface SsdpAnswer {
  location: string;
  st: string;
  usn: string;
  server: string;
}

/** Parses an M-SEARCH response (HTTP/1.1 200 with a LOCATION header); undefined for anything else. */
export function parseSsdpResponse(text: string): SsdpAnswer | undefined {
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/i.test(lines[0] ?? "")) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const location = headers.get("location");
  if (!location || !/^https?:\/\//i.test(location)) return undefined;
  return {
    location,
    st: headers.get("st") ?? "",
    usn: headers.get("usn") ?? "",
    server: headers.get("server") ?? "",
  };
}

/** Whether an answer is about an internet gateway (answers to ssdp:all also name media servers...). */
function isGatewayAnswer(a: SsdpAnswer): boolean {
  return /InternetGatewayDevice|WANIPConnection|WANPPPConnection|WANConnectionDevice|WANDevice/i.test(
    `${a.st} ${a.usn}`,
  );
}

const isLoopback = (ip: string): boolean => ip.startsWith("127.");

/**
 * Where M-SEARCH goes for this gateway: the SSDP multicast group, except for a loopback gateway (tests, a
 * daemon on this host), which multicast on the LAN could never reach: then unicast to its port 1900.
 */
export function ssdpTargetFor(gateway: string): Endpoint {
  return isLoopback(gateway) ? { host: gateway, port: SSDP_MULTICAST.port } : SSDP_MULTICAST;
}

/**
 * Sends M-SEARCH for the IGD (at most 3 datagrams) and resolves the LOCATION of the first gateway answer
 * whose source is `gateway`; undefined at the deadline, on abort, or when the target refuses (ICMP).
 */
export function discoverIgd(
  gateway: string,
  deadline: number,
  signal?: AbortSignal,
  target: Endpoint = ssdpTargetFor(gateway),
  fx: Pick<PortMapEffects, "clock" | "transport"> = effects(),
): Promise<string | undefined> {
  const { clock } = fx;
  if (signal?.aborted || clock.now() >= deadline) return Promise.resolve(undefined);
  return settleOnce<string | undefined>({ clock, deadline, signal, onDeadline: () => undefined }, (s) => {
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    fx.transport(
      { host: "0.0.0.0", port: 0 },
      (data, from) => {
        if (from.host !== gateway) return; // safety: only the gateway may tell us where to send HTTP
        const answer = parseSsdpResponse(decoder.decode(data));
        if (!answer || !isGatewayAnswer(answer)) return;
        let host: string;
        try {
          host = new URL(answer.location).hostname;
        } catch {
          return;
        }
        if (host === gateway) s.resolve(answer.location);
      },
      (code) => {
        if (code === "ECONNREFUSED") s.resolve(undefined);
      },
    ).then(
      (t) => {
        if (s.settled) return t.close();
        s.defer(() => t.close());
        const retry = new Backoff(SSDP_RETRY);
        let cancel: () => void = () => {};
        s.defer(() => cancel());
        const send = () => {
          const st = IGD_SEARCH_TARGETS[retry.tries] ?? IGD_SEARCH_TARGETS[0];
          t.send(encoder.encode(encodeMSearch(st, target)), target);
          const next = retry.sent(clock.now());
          if (Number.isFinite(next)) cancel = clock.setTimer(next - clock.now(), send);
        };
        send();
      },
      () => s.resolve(undefined),
    );
  });
}
