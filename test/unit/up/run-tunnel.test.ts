import { describe, expect, test } from "bun:test";
import { NetpunchError } from "../../../src/errors.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import { runTunnel } from "../../../src/up/run-tunnel.ts";
import type { TunnelStatus } from "../../../src/up/supervisor.ts";
import { FakeJob, RESULT, settle, T0 } from "./support.ts";

/** The server a fake punch says it registered with. */
const SERVER = { host: "198.51.100.7", port: 10001 };

/** A tunnel on a fake clock and a fake job, with its statuses and log lines recorded. */
function setup(o: { honourAbort?: boolean; signal?: AbortSignal } = {}) {
  const clock = new ManualClock(T0);
  const job = new FakeJob(o.honourAbort ?? true);
  const states: TunnelStatus["state"][] = [];
  const logs: string[] = [];
  let notify: (() => void) | undefined;
  const h = runTunnel({
    name: "office",
    job,
    clock,
    addressChanges: (l) => {
      notify = l;
      return () => {
        notify = undefined;
      };
    },
    onStatus: (s) => {
      if (states.at(-1) !== s.state) states.push(s.state);
    },
    onLog: (level, message) => logs.push(`${level}: ${message}`),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return {
    clock,
    job,
    h,
    states,
    logs,
    addressesChanged: () => notify?.(),
    subscribed: () => notify !== undefined,
  };
}

/** Brings the tunnel up: its punch reports waiting, matched, then succeeds. */
async function bringUp(s: ReturnType<typeof setup>) {
  s.job.lastPunch.onEvent({ type: "waiting", session: "home-office", server: SERVER });
  s.job.lastPunch.onEvent({ type: "matched", candidates: [] } as never);
  s.job.lastPunch.resolve(RESULT);
  await settle();
}

describe("runTunnel: the supervisor driven with a job and a clock", () => {
  test("punches at once, runs the tunnel on the result, and reports each state", async () => {
    const s = setup();
    expect(s.job.punches.length).toBe(1);
    await bringUp(s);
    expect(s.job.tunnels.length).toBe(1);
    expect(s.job.lastTunnel.result).toEqual(RESULT);
    expect(s.states).toEqual(["punching", "waiting", "punching", "up"]);
    expect(s.h.status()).toMatchObject({
      state: "up",
      path: "direct",
      remote: "203.0.113.9:40000",
      rounds: 1,
    });
  });

  test("a partner that vanishes after the match shows the tunnel as waiting again", async () => {
    const s = setup();
    s.job.lastPunch.onEvent({ type: "matched", candidates: [] } as never);
    s.job.lastPunch.onEvent({ type: "partner-lost", session: "home-office" });
    s.job.lastPunch.onEvent({
      type: "registered",
      publicAddr: { host: "198.51.100.4", port: 51820 },
      server: SERVER,
    });
    expect(s.states).toEqual(["punching", "waiting"]);
  });

  test("a tunnel that ends is re-punched after the backoff, on the clock's timer", async () => {
    const s = setup();
    await bringUp(s);
    s.clock.advanceTo(T0 + 30_000);
    s.job.lastTunnel.resolve("wireguard-go exited with code 1");
    await settle();
    expect(s.h.status()).toMatchObject({ state: "backing-off", retryAt: T0 + 31_000 });
    expect(s.logs).toEqual([
      "warn: the tunnel ended (wireguard-go exited with code 1); punching again; next round in 1 s",
    ]);
    s.clock.advanceTo(T0 + 30_999);
    expect(s.job.punches.length).toBe(1);
    s.clock.advanceTo(T0 + 31_000);
    expect(s.job.punches.length).toBe(2);
    expect(s.h.status()).toMatchObject({ state: "punching", rounds: 2, repunches: 1 });
    expect(s.job.orphans).toBe(0);
  });

  test("an address change aborts the running tunnel and re-punches once it has ended: never two at once", async () => {
    const s = setup();
    await bringUp(s);
    const tunnel = s.job.lastTunnel;
    s.addressesChanged();
    expect(tunnel.signal.aborted).toBe(true);
    await settle();
    expect(s.job.punches.length).toBe(2);
    expect(s.job.maxRunning).toBe(1);
    expect(s.job.orphans).toBe(0);
    expect(s.clock.size).toBe(0); // no backoff timer: the re-punch is immediate
  });

  test("a job that is slow to honour its abort delays the next round until it has ended", async () => {
    const s = setup({ honourAbort: false });
    await bringUp(s);
    const tunnel = s.job.lastTunnel;
    s.addressesChanged();
    expect(tunnel.signal.aborted).toBe(true);
    await settle();
    expect(s.job.punches.length).toBe(1); // still waiting for the old tunnel
    tunnel.resolve("stopped");
    await settle();
    expect(s.job.punches.length).toBe(2);
    expect(s.job.orphans).toBe(0);
  });

  test("stop while up aborts the tunnel; done resolves only once it has ended, and nothing follows", async () => {
    const s = setup({ honourAbort: false });
    await bringUp(s);
    let done = false;
    const stopped = s.h.stop().then(() => {
      done = true;
    });
    expect(s.job.lastTunnel.signal.aborted).toBe(true);
    await settle();
    expect(done).toBe(false);
    s.job.lastTunnel.resolve(undefined);
    await stopped;
    expect(s.h.status().state).toBe("stopped");
    s.clock.advanceTo(T0 + 600_000);
    expect(s.job.punches.length).toBe(1);
    expect(s.subscribed()).toBe(false);
  });

  test("the caller's signal stops it while punching or backing off", async () => {
    const c1 = new AbortController();
    const a = setup({ signal: c1.signal });
    c1.abort();
    expect(a.job.lastPunch.signal.aborted).toBe(true);
    await a.h.done;
    expect(a.h.status()).toMatchObject({ state: "stopped", rounds: 1 });

    const c2 = new AbortController();
    const b = setup({ signal: c2.signal });
    b.job.lastPunch.reject(new NetpunchError("E_SERVER_SILENT", "no answer"));
    await settle();
    expect(b.h.status().state).toBe("backing-off");
    c2.abort();
    await b.h.done;
    expect(b.clock.size).toBe(0);
    b.clock.advanceTo(T0 + 600_000);
    expect(b.job.punches.length).toBe(1);
  });

  test("a job that throws a bug (not a NetpunchError), even synchronously, fails that tunnel, and retry() punches again", async () => {
    const clock = new ManualClock(T0);
    let calls = 0;
    const h = runTunnel({
      name: "broken",
      clock,
      job: {
        punch: () => {
          calls++;
          throw new TypeError("undefined is not a function");
        },
        tunnel: async () => {},
      },
    });
    await settle();
    expect(h.status()).toMatchObject({
      state: "failed",
      lastError: { code: "E_INTERNAL", message: "undefined is not a function" },
    });
    expect(clock.size).toBe(0);
    h.retry();
    await settle();
    expect(calls).toBe(2);
    expect(h.status()).toMatchObject({ state: "failed", rounds: 2 });
    await h.stop();
  });

  test("events and outcomes of an aborted round are ignored once the next round runs", async () => {
    const s = setup({ honourAbort: false });
    const old = s.job.lastPunch;
    s.addressesChanged();
    old.reject(new NetpunchError("E_ABORTED", "aborted"));
    await settle();
    expect(s.job.punches.length).toBe(2);
    old.onEvent({ type: "matched", candidates: [] } as never);
    old.resolve(RESULT); // already settled: no effect either way
    await settle();
    expect(s.job.tunnels.length).toBe(0);
    expect(s.h.status()).toMatchObject({ state: "punching", rounds: 2 });
  });
});
