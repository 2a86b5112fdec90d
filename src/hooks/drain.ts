import { HEADER_LEN, MAGIC, TAG_LEN, VERSION } from "../protocol/constants.ts";
import { DEFAULT_PEER_TIMINGS } from "../punch/config.ts";
import { systemClock } from "../sys/clock.ts";
import { settleOnce } from "../sys/settle.ts";
import { openUdp } from "../transport/udp.ts";
import type { PunchResult } from "../types.ts";

/**
 * How long the punched port is read and emptied before a forwarder gets it. The partner may still send a few
 * punching packets after we are done (the rest of its CLOSE burst, a PING it sent before our CLOSE arrived),
 * and the server a last MATCH: a forwarder like socat would hand them to the first local client as data.
 */
export interface DrainTimings {
  /**
   * @default 300: the partner's CLOSE burst sends at least every 100 ms (machine.ts caps its interval there),
   * so three intervals without a netpunch packet mean it is over; twice the path's RTT is added on top.
   */
  quietMs: number;
  /**
   * @default 2_500: the partner lingers closeLingerMaxMs (2 s) at most; 500 ms more for its last packets to
   * cross the path.
   */
  maxMs: number;
}

export const DRAIN_TIMINGS: DrainTimings = {
  quietMs: 300,
  maxMs: DEFAULT_PEER_TIMINGS.closeLingerMaxMs + 500,
};

/**
 * Every netpunch packet starts with "NP" and the version byte, and is at least a header and a MAC long. Only
 * the drain uses this, for under a few seconds, so an application datagram that happens to start with these
 * three bytes costs at most that one datagram. Pure.
 */
export function isNetpunchPacket(data: Uint8Array): boolean {
  return (
    data.length >= HEADER_LEN + TAG_LEN && data[0] === MAGIC[0] && data[1] === MAGIC[1] && data[2] === VERSION
  );
}

export interface DrainReport {
  /** Punching packets read and dropped. */
  netpunch: number;
  /** True when the partner's own traffic arrived, which ended the drain (that datagram is lost). */
  partnerData: boolean;
  ms: number;
}

/**
 * Binds the punched port and drops netpunch packets until none has come for the quiet time, at most `maxMs`.
 * A datagram from the partner that is not netpunch's ends it at once: the partner's tunnel is running, so its
 * punching is over, and waiting longer would only lose more of its data.
 */
export async function drainPunchedPort(
  r: Pick<PunchResult, "lhost" | "lport" | "rhost" | "rport" | "rttMs">,
  signal: AbortSignal,
  timings: DrainTimings = DRAIN_TIMINGS,
): Promise<DrainReport> {
  const clock = systemClock;
  const started = clock.now();
  const quietMs = Math.min(timings.quietMs + 2 * r.rttMs, timings.maxMs);
  const report: DrainReport = { netpunch: 0, partnerData: false, ms: 0 };
  // Over at the first of: the quiet time without a netpunch packet, maxMs in all, the partner's data, an abort.
  await settleOnce<void>({ clock, deadline: started + timings.maxMs, signal }, (s) => {
    let cancelQuiet = clock.setTimer(quietMs, () => s.resolve());
    s.defer(() => cancelQuiet());
    openUdp({ host: r.lhost || "0.0.0.0", port: r.lport }, (data, from) => {
      if (s.settled) return; // the socket is closing: no quiet timer may be armed again
      if (isNetpunchPacket(data)) {
        report.netpunch++;
        cancelQuiet();
        cancelQuiet = clock.setTimer(quietMs, () => s.resolve());
      } else if (from.host === r.rhost && from.port === r.rport) {
        report.partnerData = true;
        s.resolve();
      } // anything else: a stranger, which the forwarder refuses too
    }).then((transport) => s.defer(() => transport.close()), s.reject);
  });
  report.ms = clock.now() - started;
  return report;
}
