// The server's per-packet protocol work, without sockets: seal (encode + tag) and open (authenticate +
// decode + validate) of the keepalive REGISTER (512 bytes) and of its REGISTERED answer, per second on one
// core; and HMAC-SHA256 through node:crypto against Bun.CryptoHasher at the same sizes. Ratios only mean
// something within one run (another process may share the core).
// Usage: bun bench/codec.ts [--seconds S]
import { createHmac } from "node:crypto";
import { parseArgs } from "node:util";
import { deriveKey } from "../src/protocol/auth.ts";
import type { Message } from "../src/protocol/messages.ts";
import { open, seal } from "../src/protocol/packet.ts";
import { ReplayGuard } from "../src/protocol/replay.ts";
import { checkCookie, makeCookie } from "../src/rendezvous/cookie.ts";
import { CreditLedger } from "../src/rendezvous/credit.ts";
import { serve } from "../src/rendezvous/server.ts";
import { systemRandom } from "../src/sys/random.ts";
import type { DatagramHandler, TransportFactory } from "../src/transport/types.ts";
import type { Endpoint } from "../src/types.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const SECONDS = Number(values.seconds);
const KEY = deriveKey("k".repeat(43)); // a strong secret: no scrypt at start-up
const COOKIE = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

const register: Message = {
  type: "register",
  session: "bench-000001",
  role: "a",
  peerId: "0123456789abcdef",
  candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
  cookie: COOKIE,
};
const registered: Message = {
  type: "registered",
  echo: "a1a2a3a4a5a6a7a8a9aaabac",
  status: "waiting",
  observed: { host: "198.51.100.23", port: 40001 },
  serverTime: 1_700_000_000_000,
  cookie: COOKIE,
};

/** Runs `fn` for SECONDS, returns calls per second. */
function perSecond(fn: (i: number) => void): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < SECONDS * 1000) {
    // Check the time every 256 calls: reading it costs more than a small call.
    for (let k = 0; k < 256; k++) fn(n++);
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

const nonce = new Uint8Array(12);
const sealOf = (msg: Message) => (i: number) => {
  nonce[0] = i & 0xff;
  seal(KEY, msg, { timestamp: 1_700_000_000_000 + i, nonce });
};
const openOf = (msg: Message) => {
  const packet = seal(KEY, msg, { timestamp: 1_700_000_000_000, nonce });
  return () => {
    if (!open(KEY, packet).ok) throw new Error("bench packet does not open");
  };
};

// A first pass warms the JIT up; only the second is printed.
function measure(): { rows: [string, number][]; hmacRows: [string, number][] } {
  const rows: [string, number][] = [
    ["seal REGISTERED (86 B)", perSecond(sealOf(registered))],
    ["open REGISTER (512 B)", perSecond(openOf(register))],
    ["seal REGISTER (512 B)", perSecond(sealOf(register))],
    ["open REGISTERED (86 B)", perSecond(openOf(registered))],
  ];
  // The server's work per keepalive: open the REGISTER, seal the REGISTERED.
  const openReg = openOf(register);
  const sealReg = sealOf(registered);
  rows.push([
    "server keepalive (open 512 + seal 86)",
    perSecond((i) => {
      openReg();
      sealReg(i);
    }),
  ]);

  const hmacRows: [string, number][] = [];
  for (const size of [70, 496]) {
    const data = new Uint8Array(size);
    hmacRows.push([
      `node:crypto createHmac, ${size} B`,
      perSecond(() => createHmac("sha256", KEY).update(data).digest()),
    ]);
    hmacRows.push([
      `Bun.CryptoHasher hmac, ${size} B`,
      perSecond(() => new Bun.CryptoHasher("sha256", KEY).update(data).digest()),
    ]);
    const out = new Uint8Array(64); // digest(buffer) wants room for the largest digest
    hmacRows.push([
      `Bun.CryptoHasher hmac into a buffer, ${size} B`,
      perSecond(() => new Bun.CryptoHasher("sha256", KEY).update(data).digest(out)),
    ]);
  }

  return { rows, hmacRows };
}
measure();
const { rows, hmacRows } = measure();
/**
 * The whole server's work per keepalive without sockets: the real serve() on a transport that hands it
 * datagrams in a loop and counts its replies; then the parts of that work one by one, so what is left over
 * is the core's own logic (store, objects, events).
 */
/** Keepalives delivered per event-loop turn in serverWork. */
const BATCH = 16;
async function serverWork(): Promise<[string, number][]> {
  let deliver: DatagramHandler = () => {};
  let last: Uint8Array | undefined;
  let replies = 0;
  const transport: TransportFactory = async (bind, onDatagram) => {
    deliver = onDatagram;
    return {
      local: { host: bind.host, port: 10001 },
      send: (data) => {
        last = data;
        replies++;
        return true;
      },
      close: () => {},
    };
  };
  const secret = "k".repeat(43);
  const server = await serve({ listen: { host: "127.0.0.1", port: 10001 }, secret, transport });
  const from: Endpoint = { host: "198.51.100.7", port: 40000 };
  const bare = { ...register, cookie: undefined } as Message;
  delete (bare as { cookie?: string }).cookie;
  let n = 0;
  const sealNow = (msg: Message) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(0, ++n);
    return seal(KEY, msg, { timestamp: Date.now(), nonce });
  };
  deliver(sealNow(bare), from);
  await Bun.sleep(0); // the store is asynchronous: the reply goes out once its promises have settled
  const challenge = last && open(KEY, last);
  if (!challenge?.ok || challenge.frame.msg.type !== "registered") throw new Error("no challenge");
  const keepalive = { ...register, cookie: challenge.frame.msg.cookie } as Message;
  // Sealed ahead: every keepalive needs its own nonce, or the replay guard drops it.
  const packets = Array.from({ length: 60_000 }, () => sealNow(keepalive));
  const before = replies;
  let i = 0;
  // In batches, each followed by a turn of the event loop: the store's promises settle and the replies go out
  // inside the measured time. A batch from one address earns at most the ledger's cap (8 KB) before its
  // replies spend it: 16 keepalives stay under it.
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    for (let k = 0; k < BATCH; k++) deliver(packets[i++ % packets.length] as Uint8Array, from);
    await new Promise((resolve) => setImmediate(resolve)); // not a timer: Bun.sleep(0) waits about 1 ms
  }
  const whole = i / ((performance.now() - t0) / 1000);
  await Bun.sleep(10);
  if (replies - before < Math.min(i, packets.length) * 0.99) throw new Error("the server did not answer");
  server.close();

  const cookieKey = new Uint8Array(32);
  const subject = { peerId: "0123456789abcdef", session: "bench-000001", role: "a" as const };
  const cookie = makeCookie(cookieKey, Date.now(), from, subject);
  const guard = new ReplayGuard();
  const ledger = new CreditLedger();
  const now = Date.now();
  return [
    ["serve() per keepalive, no sockets", whole],
    ["  open REGISTER", perSecond(openOf(keepalive))],
    ["  seal REGISTERED", perSecond(sealOf(registered))],
    [
      "  checkCookie + makeCookie",
      perSecond(
        () => checkCookie(cookieKey, cookie, now, from, subject) && makeCookie(cookieKey, now, from, subject),
      ),
    ],
    ["  replay guard check (new nonce)", perSecond((k) => guard.check(`${k}`.padStart(24, "0"), now, now))],
    [
      "  credit earn + spend",
      perSecond(() => {
        ledger.earn(from, 512, now);
        ledger.spend(from, 86);
      }),
    ],
    ["  nonce: systemRandom.bytes(12)", perSecond(() => systemRandom.bytes(12))],
  ];
}
const server = await serverWork();

const fmt = (rs: [string, number][]) =>
  rs
    .map(
      ([name, n]) =>
        `  ${name.padEnd(48)} ${n.toFixed(0).padStart(9)}/s  ${(1e6 / n).toFixed(2).padStart(7)} us`,
    )
    .join("\n");
console.log(`protocol work on one core (${SECONDS} s each):\n${fmt(rows)}`);
console.log(`the server's work per keepalive (REGISTER in, REGISTERED out):\n${fmt(server)}`);
console.log(`HMAC-SHA256, 16-byte tag taken from the 32-byte digest:\n${fmt(hmacRows)}`);
