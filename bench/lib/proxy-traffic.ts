// The tunnel program bench/proxy.ts measures with (not a bench itself): what an unmodified UDP tunnel does,
// bind NETPUNCH_LHOST:NETPUNCH_LPORT and send to NETPUNCH_RHOST:NETPUNCH_RPORT, started by netpunch's exec
// hook (proxy mode, the relay) or by the bench itself on a bare loopback pair (the kernel path, the
// baseline). It answers the bench over a unix socket (argv: PATH TAG), JSON lines:
//   {"cmd":"send","size":S,"rate":R,"seconds":T}  R datagrams a second (0: as fast as it can) for T s at most
//   {"cmd":"count"}                                 data datagrams and bytes received so far
//   {"cmd":"ping","size":S,"count":N,"gapMs":G}     N request/response round trips, one at a time: the RTTs
// and echoes every ping it gets as a pong. The first byte of each datagram says which it is.
import type { Socket } from "bun";

const [control, tag] = process.argv.slice(2);
const env = process.env;
const to = { host: env.NETPUNCH_RHOST ?? "127.0.0.1", port: Number(env.NETPUNCH_RPORT) };

const DATA = 0;
const PING = 1;
const PONG = 2;
/** A ping's header: its kind and a u32 sequence number. */
const PING_HEADER = 5;
/** Datagrams per sendMany call: amortises the call (bench/relay-load.ts does the same). */
const BATCH = 32;
/** The pacing tick: Bun's timers go no finer; each tick sends what is due since the step began. */
const TICK_MS = 1;
/** A flat-out step checks the clock this often (in batches): reading it costs more than a batch. */
const CLOCK_EVERY = 8;
/** A pong later than this is lost: a loopback round trip takes well under a millisecond. */
const PONG_TIMEOUT_MS = 200;
/** Hard cap on any step's datagrams, whatever it asks: the flat-out step is bounded in count too. */
const MAX_DATAGRAMS = 5_000_000;

let received = 0;
let bytes = 0;
let onPong: (seq: number) => void = () => {};

const udp = await Bun.udpSocket({
  hostname: env.NETPUNCH_LHOST ?? "127.0.0.1",
  port: Number(env.NETPUNCH_LPORT),
  binaryType: "uint8array",
  socket: {
    data(s, d) {
      if (d[0] === DATA) {
        received++;
        bytes += d.length;
      } else if (d[0] === PING) {
        d[0] = PONG;
        s.send(d, to.port, to.host);
      } else if (d[0] === PONG) onPong(new DataView(d.buffer, d.byteOffset).getUint32(1));
    },
  },
});

type Command =
  | { cmd: "send"; size: number; rate: number; seconds: number }
  | { cmd: "count" }
  | { cmd: "ping"; size: number; count: number; gapMs: number }
  | { cmd: "exit" };

async function send(c: Extract<Command, { cmd: "send" }>) {
  const datagram = new Uint8Array(c.size); // all zero: kind DATA
  const flat: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < BATCH; i++) flat.push(datagram, to.port, to.host);
  const total = Math.min(MAX_DATAGRAMS, c.rate > 0 ? Math.round(c.rate * c.seconds) : MAX_DATAGRAMS);
  const limitMs = c.seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  if (c.rate === 0) {
    // Flat out: as a tunnel with more to send than the path carries; bounded by count and by time.
    for (let n = 0; sent < total; n++) {
      sent += udp.sendMany(flat);
      if (n % CLOCK_EVERY === 0 && performance.now() - t0 >= limitMs) break;
    }
  } else {
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const elapsed = performance.now() - t0;
        const due = Math.min(total, Math.floor((elapsed / 1000) * c.rate));
        while (sent < due) {
          const went = udp.sendMany(due - sent >= BATCH ? flat : flat.slice(0, (due - sent) * 3));
          if (went === 0) break; // the kernel's send buffer is full: the next tick goes on
          sent += went;
        }
        if (sent >= total || elapsed >= limitMs + TICK_MS * 50) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { sent, ms, cpuShare: (cpu.user + cpu.system) / 1000 / ms };
}

async function ping(c: Extract<Command, { cmd: "ping" }>) {
  const datagram = new Uint8Array(Math.max(PING_HEADER, c.size));
  const view = new DataView(datagram.buffer);
  const rtts: number[] = [];
  let lost = 0;
  for (let seq = 0; seq < c.count; seq++) {
    datagram[0] = PING;
    view.setUint32(1, seq);
    const rtt = await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), PONG_TIMEOUT_MS);
      const t0 = performance.now();
      onPong = (got) => {
        if (got !== seq) return; // a late pong of an earlier, timed-out ping
        clearTimeout(timer);
        resolve(performance.now() - t0);
      };
      udp.send(datagram, to.port, to.host);
    });
    if (rtt === undefined) lost++;
    else rtts.push(rtt);
    await Bun.sleep(c.gapMs);
  }
  onPong = () => {};
  return { rtts, lost };
}

const handle = async (c: Command): Promise<object> => {
  if (c.cmd === "send") return send(c);
  if (c.cmd === "ping") return ping(c);
  if (c.cmd === "count") return { received, bytes };
  udp.close();
  setTimeout(() => process.exit(0), 0);
  return {};
};

let buf = "";
let queue = Promise.resolve();
await Bun.connect({
  unix: control ?? "",
  socket: {
    open(s: Socket) {
      s.write(`${JSON.stringify({ hello: tag, pid: process.pid, lport: udp.port, rport: to.port })}\n`);
    },
    data(s: Socket, chunk: Buffer) {
      buf += chunk.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // One command at a time, in order: each answer is one line.
        queue = queue.then(async () => {
          s.write(`${JSON.stringify(await handle(JSON.parse(line) as Command))}\n`);
        });
      }
    },
    // The bench is gone (it ended or failed): so is its tunnel program.
    close: () => process.exit(0),
    error: () => process.exit(1),
  },
});
