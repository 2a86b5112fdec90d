// UDP first, then the WebSocket, as shipped: connect() with both `server` and `serverTcp` on the simulated
// internet and its fake clock. The WebSocket is a stand-in (a socket of the peer's host to the server's UDP
// port, as ws-client.ts frames it: the rendezvous at port TO_SERVER, relay ports as they are, nothing else),
// which records when it was opened; the server's UDP "blocked" for a peer is a --server address where
// nothing listens.
import { afterEach, describe, expect, test } from "bun:test";
import type { PunchedSocket } from "../../src/punch/connect.ts";
import type { SimHost } from "../../src/transport/memory.ts";
import type { openWsClient } from "../../src/transport/ws-client.ts";
import { TO_SERVER } from "../../src/transport/ws-frame.ts";
import type { NetpunchEvent } from "../../src/types.ts";
import { SERVER, SERVER_IP, Sim, T0 } from "./world.ts";

/** Nothing listens here: REGISTERs vanish (no answer, no ICMP), as where a firewall drops UDP. */
const SILENT = { host: "198.18.0.9", port: SERVER.port };
const WS_URL = `ws://${SERVER_IP}:443`;

const closing: PunchedSocket[] = [];
afterEach(() => {
  for (const p of closing.splice(0)) p.transport.close();
});

/** The WebSocket's stand-in for `host`; `opened` gets the time of each opening, from T0. */
function standInWs(sim: Sim, host: SimHost, opened: number[], closed: number[] = []): typeof openWsClient {
  return async (o, onDatagram, onError) => {
    opened.push(sim.clock.now() - T0);
    const t = await host.transport(
      { host: "0.0.0.0", port: 0 },
      (data, from) => onDatagram(data, sameHostPort(from, SERVER) ? o.server : from),
      onError,
    );
    return {
      local: { host: "0.0.0.0", port: 0 },
      send: (data, to) =>
        to.host === o.server.host &&
        t.send(data, to.port === TO_SERVER ? SERVER : { ...to, host: SERVER_IP }),
      close: () => {
        closed.push(sim.clock.now() - T0);
        t.close();
      },
    };
  };
}
const sameHostPort = (a: { host: string; port: number }, b: { host: string; port: number }) =>
  a.host === b.host && a.port === b.port;

/** Each event with its time from T0. */
function timed(sim: Sim) {
  const events: { at: number; e: NetpunchEvent }[] = [];
  return { events, onEvent: (e: NetpunchEvent) => events.push({ at: sim.clock.now() - T0, e }) };
}

describe("connect() with a UDP server and a WebSocket", () => {
  test("no REGISTERED over UDP: the WebSocket opens once at 1,750 ms, one event says so, the pair meets on the relay", async () => {
    const sim = new Sim(21);
    await sim.serve();
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const opened: number[] = [];
    const log = timed(sim);
    let punched: PunchedSocket | undefined;
    const pa = sim.connect(a.host, "a", {
      server: SILENT,
      serverTcp: { url: WS_URL },
      openWebSocket: standInWs(sim, a.host, opened),
      keepSocket: (s) => {
        punched = s;
        closing.push(s);
      },
      onEvent: log.onEvent,
    });
    const pb = sim.connect(b.host, "b", { keepSocket: (s) => closing.push(s) });
    await sim.runUntil(() => pa.done && pb.done, 30_000);
    expect([pa.error?.message, pb.error?.message]).toEqual([undefined, undefined]);
    expect(opened).toEqual([1_750]);
    expect(log.events.filter((x) => x.e.type === "server-fallback")).toEqual([
      {
        at: 1_750,
        e: { type: "server-fallback", url: WS_URL, waitedMs: 1_750, why: "no REGISTERED in 1750 ms" },
      },
    ]);
    // Nothing of the UDP attempt after it was given up: the REGISTERs before 1,750 ms were its only words.
    const silentSends = sim.net.trace.filter((r) => r.to.host === SILENT.host && r.what === "send");
    expect(silentSends.every((r) => r.at - T0 < 1_750)).toBe(true);
    expect(silentSends.length).toBeGreaterThanOrEqual(3);
    expect(pa.result?.via).toBe("relay");
    expect(punched?.websocket).toBe(true);
    // The relay's port, tried over UDP at the UDP server's host in the background.
    expect(punched?.udpRelay?.at).toEqual({ host: SILENT.host, port: pa.result?.rport ?? -1 });
  });

  test("REGISTERED over UDP: the WebSocket is never opened, and no event speaks of one", async () => {
    const sim = new Sim(22);
    await sim.serve();
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const opened: number[] = [];
    const log = timed(sim);
    const pa = sim.connect(a.host, "a", {
      serverTcp: { url: WS_URL },
      openWebSocket: standInWs(sim, a.host, opened),
      onEvent: log.onEvent,
    });
    const pb = sim.connect(b.host, "b");
    await sim.runUntil(() => pa.done && pb.done, 30_000);
    await sim.run(10_000); // long past the fallback's time
    expect([pa.error?.message, pb.error?.message]).toEqual([undefined, undefined]);
    expect(pa.result?.via, JSON.stringify(pa.result)).toBe("direct");
    expect(opened).toEqual([]);
    expect(log.events.map((x) => x.e.type)).not.toContain("server-fallback");
    expect(log.events.find((x) => x.e.type === "waiting" || x.e.type === "matched")?.at).toBeLessThan(1_750);
  });

  test("aborted while UDP is tried: connect() rejects, the WebSocket is never opened, UDP falls silent", async () => {
    const sim = new Sim(24);
    await sim.serve();
    const a = sim.place(1, "nat");
    const opened: number[] = [];
    const stop = new AbortController();
    const pa = sim.connect(a.host, "a", {
      server: SILENT,
      serverTcp: { url: WS_URL },
      openWebSocket: standInWs(sim, a.host, opened),
      signal: stop.signal,
    });
    await sim.run(1_000);
    stop.abort();
    await sim.runUntil(() => pa.done, 1_000);
    expect(pa.error).toBeDefined();
    await sim.run(10_000); // long past the fallback's time: its timer went with the abort
    expect(opened).toEqual([]);
    const late = sim.net.trace.filter(
      (r) => r.to.host === SILENT.host && r.what === "send" && r.at - T0 > 1_000,
    );
    expect(late).toEqual([]);
  });

  test("aborted on the WebSocket, waiting for a partner: connect() rejects and the WebSocket is closed", async () => {
    const sim = new Sim(25);
    await sim.serve();
    const a = sim.place(1, "nat");
    const opened: number[] = [];
    const closed: number[] = [];
    const stop = new AbortController();
    const pa = sim.connect(a.host, "a", {
      server: SILENT,
      serverTcp: { url: WS_URL },
      openWebSocket: standInWs(sim, a.host, opened, closed),
      signal: stop.signal,
    });
    await sim.run(3_000);
    expect([opened, closed]).toEqual([[1_750], []]);
    stop.abort();
    await sim.runUntil(() => pa.done, 1_000);
    expect(pa.error).toBeDefined();
    expect(closed).toEqual([3_000]);
  });

  test("a REGISTERED that comes late, after the fallback, changes nothing: one WebSocket, one event", async () => {
    const sim = new Sim(23);
    // The server's link is slow: REGISTERED takes 2 s each way's worth, after the fallback's 1,750 ms.
    sim.serverLink = { delayMs: 1_000 };
    await sim.serve();
    const a = sim.place(1, "public");
    const opened: number[] = [];
    const log = timed(sim);
    const pa = sim.connect(a.host, "a", {
      serverTcp: { url: WS_URL },
      openWebSocket: standInWs(sim, a.host, opened),
      onEvent: log.onEvent,
      timeoutMs: 8_000,
    });
    await sim.runUntil(() => pa.done, 20_000);
    expect(opened).toEqual([1_750]);
    expect(log.events.filter((x) => x.e.type === "server-fallback")).toHaveLength(1);
  });
});
