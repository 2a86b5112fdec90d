// What a forged packet costs a multi-tenant server, against a server with one secret, in the same run: the
// server's whole receive path (serve() as shipped, on a transport that hands it datagrams straight, no
// sockets), fed a REGISTER sealed with a key no tenant has. With one secret the channel opens it (one HMAC);
// with N tenants the keyring tries each key once (N HMACs) before it is dropped as bad-auth. Rounds alternate
// the servers so drift in the machine's speed falls on all of them alike. A second table: a tenant's own
// LEAVE, replayed (authenticated, then dropped by the replay window, so the core is not what is measured)
// from an address the keyring remembers, sealed with the last tenant's key: what a known peer's packet costs
// on top of the one-secret path (the lookup's HMAC, then the channel's).
// Usage: bun bench/tenants.ts [--seconds S] [--rounds R]
import { parseArgs } from "node:util";
import { deriveKey } from "../src/protocol/auth.ts";
import { NONCE_LEN } from "../src/protocol/constants.ts";
import type { Message } from "../src/protocol/messages.ts";
import { seal } from "../src/protocol/packet.ts";
import { type ServeOptions, serve } from "../src/rendezvous/server.ts";
import { MAX_TENANTS } from "../src/rendezvous/tenants.ts";
import type { TransportFactory } from "../src/transport/types.ts";
import type { Endpoint } from "../src/types.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "1" }, rounds: { type: "string", default: "3" } },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
/** The tenant counts measured: one, a few, the most a server takes. */
const COUNTS = [1, 8, MAX_TENANTS];
/** Packets fed between two looks at the clock: the clock is not what is measured. */
const BATCH = 256;

const secretOf = (i: number) => `tenant ${i}'s secret, 32 bytes or longer.`;
const FROM: Endpoint = { host: "198.51.100.9", port: 40_000 };
const PEER_ID = "0123456789abcdef";
const REGISTER: Message = { type: "register", session: "bench", role: "a", peerId: PEER_ID, candidates: [] };
const LEAVE: Message = { type: "leave", session: "bench", role: "a", peerId: PEER_ID };
const sealed = (secret: string, msg: Message) =>
  seal(deriveKey(secret), msg, { timestamp: Date.now(), nonce: new Uint8Array(NONCE_LEN).fill(7) });
const forged = sealed("nobody's secret, 32 bytes or longer", REGISTER);

type Feed = (d: Uint8Array) => void;

/** serve() on a transport whose receive handler the bench calls itself; returns that handler. */
async function receiver(o: Partial<ServeOptions>): Promise<{ feed: Feed; close(): void }> {
  let handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;
  const transport: TransportFactory = async (bind, onDatagram) => {
    handler = onDatagram;
    return { local: { host: bind.host, port: bind.port || 10_001 }, send: () => true, close() {} };
  };
  const server = await serve({ listen: { host: "127.0.0.1", port: 10_001 }, transport, ...o });
  const h = handler;
  if (!h) throw new Error("no receive handler");
  return { feed: (d) => h(d, FROM), close: () => server.close() };
}

/** Each server, and the packet of its own it is fed in the second table (its last tenant's). */
const servers: { name: string; feed: Feed; close(): void; own: Uint8Array }[] = [
  {
    name: "one secret (today's path)",
    ...(await receiver({ secret: secretOf(0) })),
    own: sealed(secretOf(0), LEAVE),
  },
];
for (const n of COUNTS) {
  const tenants = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, secret: secretOf(i) }));
  servers.push({
    name: `${n} tenant${n === 1 ? "" : "s"}`,
    ...(await receiver({ tenants })),
    own: sealed(secretOf(n - 1), LEAVE),
  });
}

/** Microseconds per packet, `packet` fed for SECONDS. */
function usPerPacket(feed: Feed, packet: Uint8Array): number {
  let n = 0;
  const t0 = performance.now();
  const until = t0 + SECONDS * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < BATCH; i++) feed(packet);
    n += BATCH;
  }
  return ((performance.now() - t0) * 1000) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function table(title: string, packetOf: (own: Uint8Array) => Uint8Array): void {
  const results = servers.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, s] of servers.entries()) results[i]?.push(usPerPacket(s.feed, packetOf(s.own)));
  const base = median(results[0] ?? []);
  console.log(`${title}, median of ${ROUNDS} rounds of ${SECONDS} s each`);
  servers.forEach((s, i) => {
    const us = median(results[i] ?? []);
    console.log(`  ${s.name.padEnd(28)} ${us.toFixed(2).padStart(7)} us/packet  x${(us / base).toFixed(2)}`);
  });
}

table(`forged REGISTER (${forged.length} bytes)`, () => forged);
table("a tenant's own LEAVE, replayed, from a remembered address", (own) => own);
for (const s of servers) s.close();
