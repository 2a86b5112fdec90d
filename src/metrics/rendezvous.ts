import type { ServerStats } from "../rendezvous/server.ts";
import type { DropReason } from "../types.ts";
import type { MetricFamily } from "./exposition.ts";

/**
 * Every drop reason, each a value of the `reason` label: a fixed set, so a scrape has the same series every
 * time (at 0 until the first drop). `satisfies` makes a new DropReason a compile error here until listed.
 */
const DROP_REASON_SET = {
  malformed: true,
  "bad-version": true,
  "bad-auth": true,
  replay: true,
  stale: true,
  unexpected: true,
  "foreign-pair": true,
  "no-credit": true,
  "relay-rate": true,
  "relay-unbound": true,
  overload: true,
  "old-version": true,
  unsolicited: true,
  "store-down": true,
} as const satisfies Record<DropReason, true>;

export const DROP_REASONS = Object.keys(DROP_REASON_SET) as DropReason[];

const REFUSALS = ["off", "full", "limit"] as const;

const one = (name: string, help: string, type: "counter" | "gauge", value: number): MetricFamily => ({
  name,
  help,
  type,
  samples: [{ value }],
});

/** The rendezvous server's families, from its stats (what `--stats-interval` logs, and more). Pure. */
export function rendezvousFamilies(s: ServerStats): MetricFamily[] {
  const families: MetricFamily[] = [
    one(
      "netpunch_sessions_waiting",
      "Sessions the server holds now (waiting or being paired).",
      "gauge",
      s.sessions,
    ),
    one(
      "netpunch_pairs_made_total",
      "Pairs the server made (both peers of a session matched).",
      "counter",
      s.pairsMade,
    ),
    one(
      "netpunch_match_retransmissions_total",
      "MATCHes sent again because a peer had not acknowledged the first.",
      "counter",
      s.matchRetransmits,
    ),
    one(
      "netpunch_packets_received_total",
      "Datagrams received on the server's ports (UDP and WebSocket), relays not included.",
      "counter",
      s.packetsIn,
    ),
    one("netpunch_packets_sent_total", "Datagrams the server sent from its ports.", "counter", s.packetsOut),
    {
      name: "netpunch_packets_dropped_total",
      help: "Datagrams dropped, by reason (the stats line's drop reasons).",
      type: "counter",
      samples: DROP_REASONS.map((reason) => ({ labels: { reason }, value: s.dropped[reason] ?? 0 })),
    },
    one("netpunch_relays_open", "Relayed pairs open now.", "gauge", s.relays),
    one(
      "netpunch_relays_opened_total",
      "Relays opened (a port bound for a pair).",
      "counter",
      s.relaysOpened,
    ),
    {
      name: "netpunch_relay_refusals_total",
      help: "Relay requests refused: off (no --relay), full (every slot taken), limit (the requester's share).",
      type: "counter",
      samples: REFUSALS.map((reason) => ({ labels: { reason }, value: s.relaysRefused[reason] })),
    },
    {
      name: "netpunch_relayed_bytes_total",
      help: "Bytes the relays forwarded, by direction between the pair's roles.",
      type: "counter",
      samples: [
        { labels: { direction: "a_to_b" }, value: s.relayedBytesToward.b },
        { labels: { direction: "b_to_a" }, value: s.relayedBytesToward.a },
      ],
    },
    one(
      "netpunch_stun_answers_total",
      "STUN Binding requests answered (serve --stun).",
      "counter",
      s.stunAnswered,
    ),
  ];
  if (s.replayNonces !== undefined)
    families.push(
      one(
        "netpunch_replay_window_nonces",
        "Nonces the replay windows remember now (each fresh authenticated packet adds one for 20 to 30 s).",
        "gauge",
        s.replayNonces,
      ),
    );
  if (s.tenants) families.push(...tenantFamilies(s.tenants));
  return families;
}

/** A multi-tenant server's sessions and pairs, one series per tenant (a tenant's name is its label). */
function tenantFamilies(tenants: NonNullable<ServerStats["tenants"]>): MetricFamily[] {
  const each = Object.entries(tenants);
  return [
    {
      name: "netpunch_tenant_sessions_waiting",
      help: "Sessions the server holds now for each tenant (serve --secrets-file).",
      type: "gauge",
      samples: each.map(([tenant, t]) => ({ labels: { tenant }, value: t.sessions })),
    },
    {
      name: "netpunch_tenant_pairs_made_total",
      help: "Pairs the server made for each tenant since it started.",
      type: "counter",
      samples: each.map(([tenant, t]) => ({ labels: { tenant }, value: t.pairsMade })),
    },
  ];
}
