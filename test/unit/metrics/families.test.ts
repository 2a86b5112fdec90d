import { describe, expect, test } from "bun:test";
import { TUNNEL_NAME } from "../../../src/cli/config/schema.ts";
import { formatExposition } from "../../../src/metrics/exposition.ts";
import { LAG_SAMPLE_MS, LAG_WINDOW, LagMeter } from "../../../src/metrics/lag.ts";
import { processFamilies } from "../../../src/metrics/process.ts";
import { DROP_REASONS, rendezvousFamilies } from "../../../src/metrics/rendezvous.ts";
import { LastUp, TUNNEL_STATES, tunnelFamilies } from "../../../src/metrics/tunnels.ts";
import type { ServerStats } from "../../../src/rendezvous/server.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import type { TunnelRow } from "../../../src/up/supervise-all.ts";

const STATS: ServerStats = {
  packetsIn: 120,
  packetsOut: 80,
  pairsMade: 3,
  sessions: 2,
  dropped: { "bad-auth": 4, replay: 1 },
  relays: 1,
  relayedBytes: 1500,
  stunAnswered: 0,
  matchRetransmits: 5,
  relaysOpened: 2,
  relaysRefused: { off: 0, full: 1, limit: 2 },
  relayedBytesToward: { a: 500, b: 1000 },
  replayNonces: 77,
};

describe("rendezvousFamilies", () => {
  const text = formatExposition(rendezvousFamilies(STATS));

  test.each([
    "netpunch_sessions_waiting 2",
    "netpunch_pairs_made_total 3",
    "netpunch_match_retransmissions_total 5",
    "netpunch_packets_received_total 120",
    "netpunch_packets_sent_total 80",
    'netpunch_packets_dropped_total{reason="bad-auth"} 4',
    'netpunch_packets_dropped_total{reason="replay"} 1',
    'netpunch_packets_dropped_total{reason="stale"} 0',
    "netpunch_relays_open 1",
    "netpunch_relays_opened_total 2",
    'netpunch_relay_refusals_total{reason="off"} 0',
    'netpunch_relay_refusals_total{reason="full"} 1',
    'netpunch_relay_refusals_total{reason="limit"} 2',
    'netpunch_relayed_bytes_total{direction="a_to_b"} 1000',
    'netpunch_relayed_bytes_total{direction="b_to_a"} 500',
    "netpunch_stun_answers_total 0",
    "netpunch_replay_window_nonces 77",
  ])("has the line %s", (line) => {
    expect(text.split("\n")).toContain(line);
  });

  test("every drop reason has its series, the ones never seen at 0", () => {
    for (const reason of DROP_REASONS)
      expect(text).toContain(`netpunch_packets_dropped_total{reason="${reason}"} `);
    expect(DROP_REASONS.length).toBe(14); // store-down came with the shared store (issue 14)
  });

  test("a multi-tenant server's counts, one series per tenant; none without tenants", () => {
    expect(text).not.toContain("netpunch_tenant_");
    const tenants = { acme: { sessions: 2, pairsMade: 5 }, globex: { sessions: 0, pairsMade: 1 } };
    const lines = formatExposition(rendezvousFamilies({ ...STATS, tenants })).split("\n");
    for (const line of [
      'netpunch_tenant_sessions_waiting{tenant="acme"} 2',
      'netpunch_tenant_sessions_waiting{tenant="globex"} 0',
      'netpunch_tenant_pairs_made_total{tenant="acme"} 5',
      'netpunch_tenant_pairs_made_total{tenant="globex"} 1',
    ])
      expect(lines).toContain(line);
  });

  test("a replay window that cannot say its size leaves the gauge out", () => {
    const { replayNonces: _, ...rest } = STATS;
    expect(formatExposition(rendezvousFamilies(rest))).not.toContain("netpunch_replay_window_nonces");
  });
});

const row = (over: Partial<TunnelRow>): TunnelRow => ({
  name: "home",
  session: "never-in-a-label",
  role: "a",
  state: "up",
  since: 1_700_000_000_000,
  rounds: 2,
  repunches: 1,
  ...over,
});

describe("tunnelFamilies", () => {
  test("state and path as one-hot gauges, RTT in seconds, rounds and re-punches as counters", () => {
    const text = formatExposition(
      tunnelFamilies([row({ path: "direct", rttMs: 12, remote: "198.51.100.7:4000" })], new LastUp()),
    );
    const lines = text.split("\n");
    expect(lines).toContain('netpunch_tunnel_state{tunnel="home",state="up"} 1');
    for (const s of TUNNEL_STATES.filter((s) => s !== "up"))
      expect(lines).toContain(`netpunch_tunnel_state{tunnel="home",state="${s}"} 0`);
    expect(lines).toContain('netpunch_tunnel_path{tunnel="home",path="direct"} 1');
    expect(lines).toContain('netpunch_tunnel_path{tunnel="home",path="relay"} 0');
    expect(lines).toContain('netpunch_tunnel_rtt_seconds{tunnel="home"} 0.012');
    expect(lines).toContain('netpunch_tunnel_rounds_total{tunnel="home"} 2');
    expect(lines).toContain('netpunch_tunnel_repunches_total{tunnel="home"} 1');
    expect(text).not.toContain("never-in-a-label");
    expect(text).not.toContain("198.51.100.7");
    expect(text).not.toContain("netpunch_tunnel_proxy");
  });

  test("a config's tunnel names are label values as they are; anything else would be escaped", () => {
    expect(TUNNEL_NAME.test("office-2_b")).toBe(true);
    const plain = formatExposition(tunnelFamilies([row({ name: "office-2_b" })], new LastUp()));
    expect(plain).toContain('netpunch_tunnel_rounds_total{tunnel="office-2_b"} 2\n');
    // Not a name the config takes (TUNNEL_NAME refuses it), but the format's escaping holds anyway.
    expect(TUNNEL_NAME.test('a"b\\c')).toBe(false);
    const odd = formatExposition(tunnelFamilies([row({ name: 'a"b\\c' })], new LastUp()));
    expect(odd).toContain('netpunch_tunnel_rounds_total{tunnel="a\\"b\\\\c"} 2\n');
  });

  test("the last time up stays after the tunnel drops", () => {
    const last = new LastUp();
    last.onStatus("home", { state: "up", since: 5_000, upSince: 5_000, rounds: 1, repunches: 0 });
    last.onStatus("home", { state: "backing-off", since: 9_000, rounds: 1, repunches: 0 });
    const text = formatExposition(tunnelFamilies([row({ state: "backing-off" })], last));
    expect(text).toContain('netpunch_tunnel_last_up_timestamp_seconds{tunnel="home"} 5\n');
    expect(text).toContain('netpunch_tunnel_state{tunnel="home",state="backing-off"} 1\n');
  });

  test("never up: no last-up sample; no RTT before a punch measured one", () => {
    const text = formatExposition(tunnelFamilies([row({ state: "waiting" })], new LastUp()));
    expect(text).not.toContain("netpunch_tunnel_last_up_timestamp_seconds{");
    expect(text).not.toContain("netpunch_tunnel_rtt_seconds{");
  });

  test("proxy mode: packets and bytes each way", () => {
    const proxy = { packetsIn: 10, packetsOut: 11, bytesIn: 1000, bytesOut: 1100, moves: 0 };
    const text = formatExposition(tunnelFamilies([row({ proxy })], new LastUp()));
    expect(text).toContain('netpunch_tunnel_proxy_packets_total{tunnel="home",direction="in"} 10\n');
    expect(text).toContain('netpunch_tunnel_proxy_packets_total{tunnel="home",direction="out"} 11\n');
    expect(text).toContain('netpunch_tunnel_proxy_bytes_total{tunnel="home",direction="in"} 1000\n');
    expect(text).toContain('netpunch_tunnel_proxy_bytes_total{tunnel="home",direction="out"} 1100\n');
  });
});

describe("LagMeter and processFamilies", () => {
  test("a timer on time is no lag; the max covers the last LAG_WINDOW samples; stop disarms", () => {
    const clock = new ManualClock(0);
    const lag = new LagMeter(clock).start();
    clock.advanceTo(LAG_SAMPLE_MS * 3);
    expect(lag.read()).toEqual({ lastSeconds: 0, maxSeconds: 0 });
    lag.record(250);
    for (let i = 0; i < LAG_WINDOW - 1; i++) lag.record(10);
    expect(lag.read()).toEqual({ lastSeconds: 0.01, maxSeconds: 0.25 });
    lag.record(10); // the 250 ms sample leaves the window
    expect(lag.read()).toEqual({ lastSeconds: 0.01, maxSeconds: 0.01 });
    lag.stop();
    expect(clock.size).toBe(0);
  });

  test("a timer that fires late is measured as lag", () => {
    // A clock whose timers fire 40 ms after they are due: a busy event loop.
    let t = 0;
    let pending: { at: number; fn: () => void } | undefined;
    const lateClock = {
      now: () => t,
      setTimer(ms: number, fn: () => void) {
        pending = { at: t + ms, fn };
        return () => {
          pending = undefined;
        };
      },
    };
    const lag = new LagMeter(lateClock).start();
    const p = pending as unknown as { at: number; fn: () => void };
    t = p.at + 40;
    p.fn();
    expect(lag.read().lastSeconds).toBe(0.04);
    lag.stop();
  });

  test("memory, lag and start time as gauges in base units", () => {
    const lag = new LagMeter(new ManualClock(0));
    lag.record(3);
    const text = formatExposition(
      processFamilies({
        memory: { rss: 50_000_000, heapTotal: 20_000_000, heapUsed: 10_000_000, external: 1_000_000 },
        lag,
        startedAt: 1_700_000_000_500,
      }),
    );
    const lines = text.split("\n");
    expect(lines).toContain("netpunch_process_resident_memory_bytes 50000000");
    expect(lines).toContain("netpunch_process_heap_used_bytes 10000000");
    expect(lines).toContain("netpunch_event_loop_lag_seconds 0.003");
    expect(lines).toContain("netpunch_process_start_time_seconds 1700000000.5");
    expect(text).toMatch(/^netpunch_build_info\{version="[^"]+"\} 1$/m);
  });
});
