// The tunnel stand-in of bench/proxy-first.ts (not a bench itself), started by netpunch's exec hook: binds
// NETPUNCH_LHOST:NETPUNCH_LPORT, sends a small datagram to NETPUNCH_RHOST:NETPUNCH_RPORT every SEND_EVERY_MS
// from its start, and appends "ROLE <wall-clock ms>" to the file OUT (argv) when the partner's first one
// arrives (and "start ROLE <ms>" once bound: when the hook got it going). It ends LINGER_MS after that (so the partner's stand-in gets ours too), or after MAX_MS anyway.
//   bun bench/lib/first-packet.ts OUT
import { appendFileSync } from "node:fs";

const out = process.argv[2] ?? "";
const env = process.env;
const to = { host: env.NETPUNCH_RHOST ?? "127.0.0.1", port: Number(env.NETPUNCH_RPORT) };
/** Often enough that the first datagram a path can carry is at most this late (at most MAX_MS / this of them). */
const SEND_EVERY_MS = 1;
/**
 * Time for the partner's stand-in to get its first datagram too, and for a pair that started on the relay to
 * move to direct while the bench watches (3 probe answers in a row, src/proxy/paths.ts).
 */
const LINGER_MS = 5_000;
/** Bounds the stand-in however the run goes (a pair that never meets). */
const MAX_MS = 20_000;
/** Small: the time of a datagram, not of its bytes. */
const PAYLOAD = new Uint8Array(32);

/** The same clock as exec-at.py's (CLOCK_REALTIME), with sub-ms resolution. */
const stamp = (what: string) =>
  appendFileSync(
    out,
    `${what} ${env.NETPUNCH_ROLE} ${(performance.timeOrigin + performance.now()).toFixed(3)}\n`,
  );

let first = false;
const udp = await Bun.udpSocket({
  hostname: env.NETPUNCH_LHOST ?? "127.0.0.1",
  port: Number(env.NETPUNCH_LPORT),
  binaryType: "uint8array",
  socket: {
    data() {
      if (first) return;
      first = true;
      stamp("first");
      setTimeout(() => process.exit(0), LINGER_MS);
    },
  },
});
stamp("start");
const timer = setInterval(() => udp.send(PAYLOAD, to.port, to.host), SEND_EVERY_MS);
setTimeout(() => {
  clearInterval(timer);
  process.exit(first ? 0 : 1);
}, MAX_MS);
