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

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const SECONDS = Number(values.seconds);
const KEY = deriveKey("k".repeat(43)); // a strong secret: no scrypt at start-up
const COOKIE = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

const register: Message = {
  type: "register",
  session: "bench-000001",
  role: "a",
  peerId: "0123456789abcdef",
  candidates: [{ host: "192.0.2.10", port: 10000 }],
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
const fmt = (rs: [string, number][]) =>
  rs
    .map(
      ([name, n]) =>
        `  ${name.padEnd(48)} ${n.toFixed(0).padStart(9)}/s  ${(1e6 / n).toFixed(2).padStart(7)} us`,
    )
    .join("\n");
console.log(`protocol work on one core (${SECONDS} s each):\n${fmt(rows)}`);
console.log(`HMAC-SHA256, 16-byte tag taken from the 32-byte digest:\n${fmt(hmacRows)}`);
