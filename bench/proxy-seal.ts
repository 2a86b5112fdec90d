// Proxy mode's per-datagram protocol work, without sockets: sealing a tunnel datagram as DATA (encode + HMAC)
// and opening it (authenticate + decode + validate + the sequence window), at 1400 bytes (a WireGuard
// packet at MTU 1355 plus its own overhead) and at 64 bytes, per second on one core, beside a bare copy of the
// same bytes as the baseline a forwarder that seals nothing pays. Each twice: through the generic codec
// (seal/open, what every control message takes) and through DATA's own (DataCodec, what the proxy uses), so
// the row pairs say what the fast path saves. Ratios only mean something within one run.
// Usage: bun bench/proxy-seal.ts [--seconds S]
import { parseArgs } from "node:util";
import { deriveKey } from "../src/protocol/auth.ts";
import { DataCodec } from "../src/protocol/data.ts";
import type { Data } from "../src/protocol/messages.ts";
import { open, seal } from "../src/protocol/packet.ts";
import { SequenceWindow } from "../src/proxy/window.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const SECONDS = Number(values.seconds);
const KEY = deriveKey("k".repeat(43)); // a strong secret: no scrypt at start-up
const PAIR = "00112233445566778899aabbccddeeff";
const SIZES = [64, 1400];

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
const data = (size: number, seq: number): Data => ({
  type: "data",
  pairId: PAIR,
  from: "a",
  seq,
  payload: new Uint8Array(size).fill(7),
});

function measure(): [string, number, number][] {
  const rows: [string, number, number][] = [];
  for (const size of SIZES) {
    const msg = data(size, 0);
    const sink = new Uint8Array(size + 65);
    rows.push([`copy ${size} B (baseline)`, size, perSecond(() => sink.set(msg.payload))]);
    rows.push([
      `seal DATA ${size} B`,
      size,
      perSecond((i) => {
        msg.seq = i;
        seal(KEY, msg, { timestamp: 1_700_000_000_000, nonce });
      }),
    ]);
    // Distinct sequence numbers, as a real stream has: each packet passes the window once.
    const packets = Array.from({ length: 1024 }, (_, i) =>
      seal(KEY, data(size, i), { timestamp: 1_700_000_000_000, nonce }),
    );
    let window = new SequenceWindow();
    rows.push([
      `open DATA ${size} B + window`,
      size,
      perSecond((i) => {
        if (i % packets.length === 0) window = new SequenceWindow();
        const r = open(KEY, packets[i % packets.length] as Uint8Array);
        if (!r.ok || r.frame.msg.type !== "data" || window.check(r.frame.msg.seq) === "replay")
          throw new Error("bench packet refused");
      }),
    ]);
    const codec = new DataCodec(KEY, PAIR, "a");
    rows.push([
      `DataCodec seal ${size} B`,
      size,
      perSecond((i) => {
        // Into one reused buffer, as the proxy seals for a UDP socket (Transport.copiesOnSend).
        codec.seal(msg.payload, i, 1_700_000_000_000, nonce, true);
      }),
    ]);
    window = new SequenceWindow();
    rows.push([
      `DataCodec open ${size} B + window`,
      size,
      perSecond((i) => {
        if (i % packets.length === 0) window = new SequenceWindow();
        const r = codec.open(packets[i % packets.length] as Uint8Array);
        if (r !== "ok" || !codec.ourPair || window.check(codec.seq) === "replay")
          throw new Error("bench packet refused");
      }),
    ]);
  }
  return rows;
}

measure();
console.log("proxy mode per datagram, one core (x: time per datagram over the same size's copy, this run):");
const baseline = new Map<number, number>();
for (const [name, size, rate] of measure()) {
  const gbit = (rate * size * 8) / 1e9;
  // Each size's copy comes first (measure's order): it is the baseline of the rows after it.
  if (!baseline.has(size)) baseline.set(size, rate);
  const ratio = (baseline.get(size) ?? rate) / rate;
  console.log(
    `  ${name.padEnd(34)} ${Math.round(rate).toLocaleString("en").padStart(12)}/s  ${(1e6 / rate).toFixed(2).padStart(7)} µs  ${`x${ratio.toFixed(0)}`.padStart(6)}  ${gbit.toFixed(2)} Gbit/s of payload`,
  );
}
