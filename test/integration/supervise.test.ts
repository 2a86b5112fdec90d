// The up supervisor with real jobs: connect() to a real server on loopback, a tunnel that ends when told to.
// Two peers of one session supervised in one process come up, come back by themselves after their tunnel
// dies and after an address change, and stop with nothing left running.
import { expect, setDefaultTimeout, test } from "bun:test";
import { connect, serve } from "../../src/index.ts";
import { systemClock } from "../../src/sys/clock.ts";
import type { PunchResult } from "../../src/types.ts";
import type { TunnelJob } from "../../src/up/run-tunnel.ts";
import { superviseAll, type TunnelRow } from "../../src/up/supervise-all.ts";

// Real sockets and the real backoff (1 s): slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const secret = "supervise-secret";

/** A job that punches with connect() and runs a "tunnel" until `kill()` or its signal ends it. */
function loopbackJob(server: string, role: "a" | "b") {
  const kills = new Set<(why: string) => void>();
  const results: PunchResult[] = [];
  const job: TunnelJob = {
    punch: (signal, onEvent) =>
      connect({ server, secret, role, session: "sup", lan: false, signal, onEvent }),
    tunnel: (result, signal) =>
      new Promise<string>((resolve) => {
        results.push(result);
        const kill = (why: string) => {
          kills.delete(kill);
          resolve(why);
        };
        kills.add(kill);
        signal.addEventListener("abort", () => kill("aborted"), { once: true });
      }),
  };
  return {
    job,
    results,
    kill: (why: string) => {
      for (const k of [...kills]) k(why);
    },
  };
}

test("two tunnels come up, come back after their tunnel dies and after an address change, and stop cleanly", async () => {
  const server = await serve({ listen: { host: "127.0.0.1", port: 0 }, secret });
  const at = `127.0.0.1:${server.local.port}`;
  const a = loopbackJob(at, "a");
  const b = loopbackJob(at, "b");
  const listeners = new Set<() => void>();
  const s = superviseAll({
    clock: systemClock,
    tunnels: [
      { name: "side-a", session: "sup", role: "a", job: a.job },
      { name: "side-b", session: "sup", role: "b", job: b.job },
    ],
    addressChanges: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  });
  const both = (pred: (r: TunnelRow) => boolean) => s.rows().every(pred);
  /** Waits until `pred` holds for both rows, at most 20 s (a failure, not a hang). */
  const until = async (what: string, pred: (r: TunnelRow) => boolean) => {
    for (let i = 0; i < 200 && !both(pred); i++) await Bun.sleep(100);
    if (!both(pred)) throw new Error(`${what}: ${JSON.stringify(s.rows())}`);
  };
  try {
    await until("up", (r) => r.state === "up");
    expect(s.rows().map((r) => [r.rounds, r.repunches, r.path])).toEqual([
      [1, 0, "direct"],
      [1, 0, "direct"],
    ]);
    expect(a.results[0]?.rport).toBe(b.results[0]?.lport);
    // The tunnel breaks on both sides (as a stale handshake would show it): both back off and punch again.
    a.kill("wireguard-go exited");
    b.kill("wireguard-go exited");
    await until("up again", (r) => r.state === "up" && r.rounds === 2);
    expect(s.rows().map((r) => r.repunches)).toEqual([1, 1]);
    expect(a.results.length).toBe(2);
    // The host's addresses change: both tunnels are aborted and punched again at once, with no backoff.
    for (const l of listeners) l();
    await until("up after the address change", (r) => r.state === "up" && r.rounds === 3);
    expect(s.rows().map((r) => r.repunches)).toEqual([2, 2]);
  } finally {
    await s.stop();
    server.close();
    await server.closed;
  }
  expect(s.rows().map((r) => r.state)).toEqual(["stopped", "stopped"]);
});
