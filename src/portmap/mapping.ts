// The one result every port-mapping protocol gives (a Grant), and what mapPort() hands out for it (a
// PortMapping that renews itself and can be removed).
import type { Clock } from "../sys/clock.ts";
import type { Endpoint } from "../types.ts";

export type PortMapProtocol = "upnp" | "nat-pmp" | "pcp";

export interface PortMapping {
  /** The public address the gateway forwards to localPort; updated if a renewal is given another one. */
  external: Endpoint;
  protocol: PortMapProtocol;
  /** The gateway that holds the mapping. */
  gateway: string;
  /** Lifetime the gateway granted at the last request, in seconds. */
  lifetimeSeconds: number;
  /**
   * Deletes the mapping (stops renewing, asks the gateway, waits up to timeoutMs for its answer). Never
   * rejects; calling it again returns the same promise. Does not use the mapPort signal, which at exit
   * time is usually aborted already.
   */
  remove(): Promise<void>;
}

/** What one protocol needs to renew and delete the mapping it made: PCP, NAT-PMP and UPnP all return one. */
export interface Grant {
  protocol: PortMapProtocol;
  external: Endpoint;
  lifetime: number;
  /**
   * Asks again for the same mapping with `lifetime` (0 deletes), on a fresh socket and without the mapPort
   * signal; undefined when the gateway did not agree in time.
   */
  request(
    lifetime: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ external: Endpoint; lifetime: number } | undefined>;
}

/** Renewals and deletions run in the background, so they can wait longer than mapPort's 1.5 s. */
export const BACKGROUND_TIMEOUT_MS = 5000;
/** After a failed renewal: soon enough to keep a 120 s mapping (miniupnpd's PCP minimum) alive. */
const RENEW_RETRY_MS = 30_000;
/** A gateway granting a few seconds must not turn renewal into a busy loop. */
const MIN_RENEW_MS = 10_000;
/** remove() waits at least this long for the gateway's answer, even when mapPort's timeoutMs was shorter. */
const MIN_REMOVE_TIMEOUT_MS = 1000;

/** A public address a partner could send to. */
export const usable = (ep: Endpoint): boolean => ep.port !== 0 && ep.host !== "0.0.0.0";

export interface TrackOptions {
  gateway: string;
  ttl: number;
  timeoutMs: number;
  renew: boolean;
  clock: Clock;
}

/** Wraps a grant into the PortMapping handed out: renewal at half the lifetime, remove(). */
export function track(grant: Grant, o: TrackOptions): PortMapping {
  const { clock, ttl } = o;
  let cancelTimer: () => void = () => {};
  let removal: Promise<void> | undefined;
  // A renewal in flight when remove() comes: stopped first, so no retransmission of it follows the delete.
  let renewal: { stop: AbortController; done: Promise<unknown> } | undefined;
  const mapping: PortMapping = {
    external: { ...grant.external },
    protocol: grant.protocol,
    gateway: o.gateway,
    lifetimeSeconds: grant.lifetime,
    remove() {
      removal ??= (async () => {
        cancelTimer();
        renewal?.stop.abort();
        await renewal?.done;
        try {
          await grant.request(0, Math.max(o.timeoutMs, MIN_REMOVE_TIMEOUT_MS));
        } catch {
          // best effort: the gateway drops it when its lifetime ends anyway
        }
      })();
      return removal;
    },
  };
  const schedule = (ms: number) => {
    if (!o.renew || removal) return;
    // unref: a program that is otherwise done exits without waiting for the next renewal.
    cancelTimer = clock.setTimer(
      ms,
      async () => {
        if (removal) return;
        const stop = new AbortController();
        const done = grant.request(ttl, BACKGROUND_TIMEOUT_MS, stop.signal).catch(() => undefined);
        renewal = { stop, done };
        const r = await done;
        renewal = undefined;
        if (removal) return;
        if (r) {
          grant.external = r.external;
          mapping.external = { ...r.external };
          mapping.lifetimeSeconds = r.lifetime;
        }
        schedule(r ? renewAfterMs(r.lifetime) : RENEW_RETRY_MS);
      },
      { unref: true },
    );
  };
  schedule(renewAfterMs(grant.lifetime));
  return mapping;
}

/** RFC 6887 11.2.1 and RFC 6886 3.3 both suggest renewing at half the lifetime. */
const renewAfterMs = (lifetimeSeconds: number): number =>
  Math.max(MIN_RENEW_MS, (lifetimeSeconds * 1000) / 2);
