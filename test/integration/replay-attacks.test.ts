// Issue 8's replay attacks with real sockets on loopback: the real serve() and connect(), and an on-path
// attacker in between (a recording UDP relay that the peers take for the server) that captures packets and
// injects them again. It has no secret: it only re-sends whole packets it saw.
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type NetpunchEvent, serve } from "../../src/index.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { Endpoint } from "../../src/types.ts";

setDefaultTimeout(60_000);

const secret = "replay-attack-secret-of-32-bytes-or-more!";
const TYPE = { register: 1, match: 3 } as const;
type Udp = Bun.udp.Socket<"buffer">;

interface Captured {
  type: number;
  data: Uint8Array;
  /** Which peer's flow it belongs to (its source port toward the tap). */
  peer: number;
  dir: "up" | "down";
}

/**
 * The server sees each peer at its upstream socket, so the partner's PINGs cross the tap too, like a NAT's;
 * a peer that is done has closed its port, and the kernel's ICMP answer to a late PING is expected.
 */
const expectedIcmp = () => {};

/**
 * The on-path attacker: peers send to its port as if it were the server; each peer gets its own upstream
 * socket toward the real server, so the server sees distinct sources. Everything is recorded.
 */
class Tap {
  readonly seen: Captured[] = [];
  private up = new Map<number, Udp>();
  private front!: Udp;
  server: Endpoint;
  constructor(server: Endpoint) {
    this.server = server;
  }
  async start(): Promise<number> {
    this.front = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data: (_s, data, port) => void this.fromPeer(new Uint8Array(data), port),
        error: expectedIcmp,
      },
    });
    return this.front.port;
  }
  private async upstream(peerPort: number): Promise<Udp> {
    let s = this.up.get(peerPort);
    if (s) return s;
    s = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data: (_s, data) => {
          const d = new Uint8Array(data);
          this.seen.push({ type: d[3] ?? 0, data: d, peer: peerPort, dir: "down" });
          this.front.send(d, peerPort, "127.0.0.1");
        },
        error: expectedIcmp,
      },
    });
    this.up.set(peerPort, s);
    return s;
  }
  private async fromPeer(data: Uint8Array, peerPort: number) {
    this.seen.push({ type: data[3] ?? 0, data, peer: peerPort, dir: "up" });
    (await this.upstream(peerPort)).send(data, this.server.port, this.server.host);
  }
  /** Injects a captured packet toward a peer, from the tap's front port: the "server" as the peer knows it. */
  injectToPeer(data: Uint8Array, peerPort: number) {
    this.front.send(data, peerPort, "127.0.0.1");
  }
  close() {
    this.front.close();
    for (const s of this.up.values()) s.close();
  }
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function startServer(port = 0): Promise<{ server: RendezvousServer; ac: AbortController }> {
  const ac = new AbortController();
  const server = await serve({ listen: { host: "127.0.0.1", port }, secret, signal: ac.signal });
  cleanup.push(() => ac.abort());
  return { server, ac };
}

test("a MATCH captured from an old pair and replayed to a waiting peer changes nothing; its partner still connects", async () => {
  const { server } = await startServer();
  const tap = new Tap(server.local);
  const at = `127.0.0.1:${await tap.start()}`;
  cleanup.push(() => tap.close());

  // An old pair connects through the tap; its MATCHes are captured.
  await Promise.all([
    connect({ server: at, secret, role: "a", session: "old" }),
    connect({ server: at, secret, role: "b", session: "old" }),
  ]);
  const oldMatch = tap.seen.find((p) => p.type === TYPE.match && p.dir === "down");
  expect(oldMatch).toBeDefined();

  // A new peer waits; the attacker replays the old MATCH to it, as if from the server.
  const events: NetpunchEvent[] = [];
  let waiting: () => void = () => {};
  const isWaiting = new Promise<void>((r) => {
    waiting = r;
  });
  const victim = connect({
    server: at,
    secret,
    role: "a",
    session: "new",
    onEvent: (e) => {
      events.push(e);
      if (e.type === "waiting") waiting();
    },
  });
  await isWaiting;
  const victimPort = tap.seen.filter((p) => p.dir === "up" && p.type === TYPE.register).at(-1)?.peer ?? 0;
  for (let i = 0; i < 3; i++) tap.injectToPeer(oldMatch?.data ?? new Uint8Array(), victimPort);
  await Bun.sleep(300);
  // Today's fix: refused, no punching at all toward the old pair's addresses.
  expect(events.map((e) => e.type)).not.toContain("matched");
  expect(events.filter((e) => e.type === "dropped").length).toBeGreaterThan(0);

  const [a, b] = await Promise.all([victim, connect({ server: at, secret, role: "b", session: "new" })]);
  expect(a.session).toBe("new");
  expect(b.rport).toBe(a.lport);
});

test("after a server restart, a replayed REGISTER from the attacker's own address registers nothing", async () => {
  const first = await startServer();
  const port = first.server.local.port;
  const tap = new Tap(first.server.local);
  const at = `127.0.0.1:${await tap.start()}`;
  cleanup.push(() => tap.close());

  // Peer a registers and waits (keepalives every second here, so the test is short).
  const events: NetpunchEvent[] = [];
  const a = connect({
    server: at,
    secret,
    role: "a",
    session: "restart",
    timings: { keepaliveMs: 1_000 },
    onEvent: (e) => events.push(e),
  });
  while (!events.some((e) => e.type === "waiting")) await Bun.sleep(10);
  const captured = tap.seen.filter((p) => p.dir === "up" && p.type === TYPE.register).map((p) => p.data);
  expect(captured.length).toBeGreaterThanOrEqual(2); // the first contact, and the one with the cookie

  // The server restarts on the same port.
  first.ac.abort();
  await first.server.closed;
  await startServer(port);

  // The attacker replays every captured REGISTER from its own socket, and listens for what comes back.
  const heard: number[] = [];
  const eve = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (_s, d) => void heard.push(new Uint8Array(d)[3] ?? 0) },
  });
  cleanup.push(() => eve.close());
  for (const p of captured) eve.send(p, port, "127.0.0.1");
  await Bun.sleep(100);

  // The real partner comes: it must meet the real a, and the attacker must never be sent a MATCH.
  const [ra, rb] = await Promise.all([a, connect({ server: at, secret, role: "b", session: "restart" })]);
  expect(ra.rport).toBe(rb.lport);
  expect(rb.rport).toBe(ra.lport);
  expect(heard).not.toContain(TYPE.match);
});
