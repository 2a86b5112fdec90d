import type { TunnelRow } from "../up/supervise-all.ts";
import type { TunnelState, TunnelStatus } from "../up/supervisor.ts";
import type { MetricFamily, Sample } from "./exposition.ts";

/** Every state, each a value of the `state` label (one is 1, the others 0): a fixed set. */
const TUNNEL_STATE_SET = {
  waiting: true,
  punching: true,
  up: true,
  "backing-off": true,
  failed: true,
  stopped: true,
} as const satisfies Record<TunnelState, true>;
export const TUNNEL_STATES = Object.keys(TUNNEL_STATE_SET) as TunnelState[];

type Path = NonNullable<TunnelStatus["path"]>;
const PATH_SET = {
  lan: true,
  direct: true,
  predicted: true,
  birthday: true,
  relay: true,
} as const satisfies Record<Path, true>;
export const TUNNEL_PATHS = Object.keys(PATH_SET) as Path[];

/**
 * When each tunnel last came up, from the supervisor's status changes: the row forgets `upSince` once the
 * tunnel drops, and an alert wants to know how long ago it last worked.
 */
export class LastUp {
  private readonly at = new Map<string, number>();

  onStatus(name: string, s: TunnelStatus): void {
    if (s.state === "up") this.at.set(name, s.upSince ?? s.since);
  }

  get(name: string): number | undefined {
    return this.at.get(name);
  }
}

/**
 * `netpunch up`'s families, one series per tunnel (label `tunnel`: the tunnel's table name in the config,
 * never its session, addresses or keys). Pure given the rows.
 */
export function tunnelFamilies(rows: readonly TunnelRow[], lastUp: Pick<LastUp, "get">): MetricFamily[] {
  const per = (f: (r: TunnelRow, tunnel: { tunnel: string }) => Sample[]): Sample[] =>
    rows.flatMap((r) => f(r, { tunnel: r.name }));
  const withProxy = rows.filter((r) => r.proxy);
  const families: MetricFamily[] = [
    {
      name: "netpunch_tunnel_state",
      help: "1 for the tunnel's state now, 0 for the others.",
      type: "gauge",
      samples: per((r, l) =>
        TUNNEL_STATES.map((state) => ({ labels: { ...l, state }, value: r.state === state ? 1 : 0 })),
      ),
    },
    {
      name: "netpunch_tunnel_path",
      help: "1 for the path of the tunnel's last punch (kept while backing off), 0 for the others.",
      type: "gauge",
      samples: per((r, l) =>
        TUNNEL_PATHS.map((path) => ({ labels: { ...l, path }, value: r.path === path ? 1 : 0 })),
      ),
    },
    {
      name: "netpunch_tunnel_rtt_seconds",
      help: "The round-trip time the last punch measured.",
      type: "gauge",
      samples: per((r, l) => (r.rttMs !== undefined ? [{ labels: l, value: r.rttMs / 1000 }] : [])),
    },
    {
      name: "netpunch_tunnel_rounds_total",
      help: "Punch rounds started.",
      type: "counter",
      samples: per((r, l) => [{ labels: l, value: r.rounds }]),
    },
    {
      name: "netpunch_tunnel_repunches_total",
      help: "Rounds started because a tunnel that was up ended, or the host's addresses changed.",
      type: "counter",
      samples: per((r, l) => [{ labels: l, value: r.repunches }]),
    },
    {
      name: "netpunch_tunnel_last_up_timestamp_seconds",
      help: "When the tunnel last came up (unix time); absent until it first does.",
      type: "gauge",
      samples: per((r, l) => {
        const at = lastUp.get(r.name);
        return at !== undefined ? [{ labels: l, value: at / 1000 }] : [];
      }),
    },
  ];
  if (withProxy.length)
    families.push(
      {
        name: "netpunch_tunnel_proxy_packets_total",
        help: "Proxy mode: the tunnel's datagrams, in (from the partner) and out (to it); from 0 each round.",
        type: "counter",
        samples: withProxy.flatMap((r) => [
          { labels: { tunnel: r.name, direction: "in" }, value: r.proxy?.packetsIn ?? 0 },
          { labels: { tunnel: r.name, direction: "out" }, value: r.proxy?.packetsOut ?? 0 },
        ]),
      },
      {
        name: "netpunch_tunnel_proxy_bytes_total",
        help: "Proxy mode: the payload bytes of the tunnel's datagrams, in and out; from 0 each round.",
        type: "counter",
        samples: withProxy.flatMap((r) => [
          { labels: { tunnel: r.name, direction: "in" }, value: r.proxy?.bytesIn ?? 0 },
          { labels: { tunnel: r.name, direction: "out" }, value: r.proxy?.bytesOut ?? 0 },
        ]),
      },
    );
  return families;
}
