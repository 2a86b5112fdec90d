// The processes bench/server.ts runs (not a bench itself):
//   bun bench/server-load.ts echo PORT   a plain Bun UDP echo on 127.0.0.1:PORT, the baseline
//   bun bench/server-load.ts sink PORT   receives and counts, answers nothing: the generator's own ceiling
//   bun bench/server-load.ts gen ID      a load generator, driven by JSON lines on stdin (one answer a line)
// The generator registers its share of the sessions with the project's own encoder and decoder (seal/open,
// the cookie round trip a real peer makes), then seals every keepalive of a step BEFORE the step starts, so
// that during the step it only sends: no crypto competes with the server for the CPU.
import { deriveKey } from "../src/protocol/auth.ts";
import { NONCE_LEN } from "../src/protocol/constants.ts";
import type { Register } from "../src/protocol/messages.ts";
import { open, seal } from "../src/protocol/packet.ts";

const HOST = "127.0.0.1";

type Command =
  | { cmd: "connect"; port: number; secret: string; sessions: number; first: number }
  | { cmd: "register" }
  | { cmd: "prepare"; rate: number; seconds: number }
  | { cmd: "go" };

/** The REGISTERED statuses of the fill's two rounds. */
const CHALLENGE = "challenge";
const WAITING = "waiting";
/** Unanswered REGISTERs are sent again after this long (the server may drop under the fill's load). */
const RETRY_MS = 500;
/** No REGISTERED for this long: the target is not answering (20 retries), give up on the rest. */
const STALL_MS = 10_000;
/** REGISTERs in flight during the fill: enough to keep the server busy, under its receive buffer. */
const WINDOW = 128;
/** How long replies are still counted after a step's last send (they are in the server's queue). */
const DRAIN_MS = 300;
/** Packets handed to the kernel per sendMany call: amortises the call without long bursts. */
const BATCH = 32;

async function generator(id: number): Promise<void> {
  let key: Uint8Array = new Uint8Array(0);
  let sessions: Register[] = [];
  let cookies: (string | undefined)[] = [];
  let status: string[] = [];
  let onReply: (data: Uint8Array) => void = () => {};
  let socket: Bun.udp.ConnectedSocket<"uint8array"> | undefined;
  let prepared: Uint8Array[] = [];
  let rate = 0;
  let counter = 0;

  /** The nonce says which session a reply is for: its index, this generator's id, and a counter. */
  const nonceFor = (index: number): Uint8Array => {
    const n = new Uint8Array(NONCE_LEN);
    const v = new DataView(n.buffer);
    v.setUint32(0, index);
    v.setUint32(4, id);
    v.setUint32(8, ++counter);
    return n;
  };
  const sealFor = (index: number): Uint8Array => {
    const s = sessions[index] as Register;
    const cookie = cookies[index];
    return seal(key, cookie ? { ...s, cookie } : s, { timestamp: Date.now(), nonce: nonceFor(index) });
  };

  async function register(): Promise<{ registered: number; ms: number }> {
    const t0 = performance.now();
    for (const want of [CHALLENGE, WAITING]) {
      const pending = new Map<number, number>(); // index -> time sent
      let next = 0;
      let done = 0;
      let lastProgress = performance.now();
      let stop = () => {};
      const fill = () => {
        const now = performance.now();
        // A target that answers nothing (down, another secret, another wire layout) is given up on, so the
        // bench reports "only N of M sessions registered" instead of waiting forever.
        if (now - lastProgress > STALL_MS) return stop();
        for (const [i, at] of pending)
          if (now - at > RETRY_MS) {
            pending.set(i, now);
            socket?.send(sealFor(i));
          }
        while (pending.size < WINDOW && next < sessions.length) {
          pending.set(next, now);
          socket?.send(sealFor(next++));
        }
      };
      await new Promise<void>((resolve) => {
        if (sessions.length === 0) return resolve();
        const timer = setInterval(fill, RETRY_MS / 2);
        stop = () => {
          clearInterval(timer);
          resolve();
        };
        onReply = (data) => {
          const r = open(key, data);
          if (!r.ok || r.frame.msg.type !== "registered") return;
          const index = Number.parseInt(r.frame.msg.echo.slice(0, 8), 16);
          // The fill's first round wants the challenge; its second takes whatever the answer is (a "full" or
          // "limit" is reported as not registered).
          const got = r.frame.msg.status;
          if (!pending.has(index) || (want === CHALLENGE) !== (got === CHALLENGE)) return;
          pending.delete(index);
          lastProgress = performance.now();
          cookies[index] = r.frame.msg.cookie;
          status[index] = got;
          if (++done < sessions.length) return fill();
          stop();
        };
        fill();
      });
    }
    return { registered: status.filter((s) => s === WAITING).length, ms: performance.now() - t0 };
  }

  async function go(): Promise<{ sent: number; received: number; ms: number }> {
    let received = 0;
    onReply = () => {
      received++;
    };
    let sent = 0;
    const t0 = performance.now();
    // Every millisecond or so, send what the rate says is due by now, in batches.
    while (sent < prepared.length) {
      const due = Math.min(prepared.length, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (sent < due) {
        const end = Math.min(due, sent + BATCH);
        socket?.sendMany(prepared.slice(sent, end));
        sent = end;
      }
      await Bun.sleep(1);
    }
    const ms = performance.now() - t0;
    await Bun.sleep(DRAIN_MS);
    return { sent, received, ms };
  }

  const answer = (o: object) => console.log(JSON.stringify(o));
  for await (const line of console) {
    const c = JSON.parse(line) as Command;
    if (c.cmd === "connect") {
      key = deriveKey(c.secret);
      sessions = Array.from({ length: c.sessions }, (_, i) => ({
        type: "register",
        session: `bench-${c.first + i}`,
        role: "a",
        peerId: (c.first + i).toString(16).padStart(16, "0"),
        candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
      }));
      cookies = sessions.map(() => undefined);
      status = sessions.map(() => "");
      socket?.close();
      socket = await Bun.udpSocket({
        binaryType: "uint8array",
        connect: { hostname: HOST, port: c.port },
        socket: { data: (_s, data) => onReply(data) },
      });
      answer({ localPort: socket.port });
    } else if (c.cmd === "register") answer(await register());
    else if (c.cmd === "prepare") {
      const t0 = performance.now();
      rate = c.rate;
      const n = Math.round(c.rate * c.seconds);
      // Round robin over the sessions: each gets a keepalive every sessions/rate seconds.
      prepared = Array.from({ length: n }, (_, i) => sealFor(i % Math.max(1, sessions.length)));
      answer({ prepared: n, ms: performance.now() - t0 });
    } else if (c.cmd === "go") answer(await go());
  }
}

async function echo(port: number): Promise<void> {
  const s = await Bun.udpSocket({
    hostname: HOST,
    port,
    socket: {
      data(sock, data, from, address) {
        sock.send(data, from, address);
      },
    },
  });
  console.log(JSON.stringify({ port: s.port }));
}

async function sink(port: number): Promise<void> {
  let got = 0;
  const s = await Bun.udpSocket({
    hostname: HOST,
    port,
    socket: {
      data() {
        got++;
      },
    },
  });
  console.log(JSON.stringify({ port: s.port }));
  // The count goes out on request: a line on stdin asks for it.
  for await (const _ of console) console.log(JSON.stringify({ got }));
}

const [role = "", arg = "0"] = process.argv.slice(2);
if (role === "echo") await echo(Number(arg));
else if (role === "sink") await sink(Number(arg));
else if (role === "gen") await generator(Number(arg));
else {
  console.error("usage: bun bench/server-load.ts echo PORT | sink PORT | gen ID");
  process.exit(2);
}
