// The bench's side of bench/lib/proxy-traffic.ts's unix socket: each traffic program, wherever it was
// started (by the bench, or by a netpunch exec hook the bench cannot talk to), connects and says hello with
// its tag; the bench then asks it one JSON-line command at a time.
import type { Socket } from "bun";

/**
 * The longest any command may take: a step is at most seconds long, and the slowest, 300 round trips each
 * lost (200 ms apiece), a minute. Past it, or when the program is gone, the bench fails instead of hanging.
 */
const ASK_MS = 90_000;

/** One connected traffic program. */
export interface Traffic {
  readonly pid: number;
  /** The port it bound (LPORT) and the one it sends to (RPORT). */
  readonly lport: number;
  readonly rport: number;
  ask<T>(command: object): Promise<T>;
}

interface Conn {
  socket: Socket<{ buf: string }>;
  waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[];
}

export class Control {
  private readonly hellos = new Map<string, Traffic>();
  private readonly wanted = new Map<string, (t: Traffic) => void>();
  private readonly server: Bun.UnixSocketListener<{ buf: string }>;

  constructor(readonly path: string) {
    const conns = new WeakMap<Socket<{ buf: string }>, Conn>();
    this.server = Bun.listen<{ buf: string }>({
      unix: path,
      socket: {
        open: (s) => {
          s.data = { buf: "" };
          conns.set(s, { socket: s, waiting: [] });
        },
        data: (s, chunk) => {
          s.data.buf += chunk.toString();
          const conn = conns.get(s);
          for (let nl = s.data.buf.indexOf("\n"); nl >= 0 && conn; nl = s.data.buf.indexOf("\n")) {
            const line = s.data.buf.slice(0, nl);
            s.data.buf = s.data.buf.slice(nl + 1);
            const w = conn.waiting.shift();
            if (w) w.resolve(line);
            else this.hello(conn, line);
          }
        },
        close: (s) => {
          for (const w of conns.get(s)?.waiting.splice(0) ?? [])
            w.reject(new Error("a traffic program is gone"));
        },
      },
    });
  }

  private hello(conn: Conn, line: string): void {
    const h = JSON.parse(line) as { hello: string; pid: number; lport: number; rport: number };
    const t: Traffic = {
      pid: h.pid,
      lport: h.lport,
      rport: h.rport,
      ask: <T>(command: object) =>
        new Promise<T>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no answer to ${JSON.stringify(command)}`)),
            ASK_MS,
          );
          conn.waiting.push({
            resolve: (l) => {
              clearTimeout(timer);
              resolve(JSON.parse(l) as T);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          });
          conn.socket.write(`${JSON.stringify(command)}\n`);
        }),
    };
    const w = this.wanted.get(h.hello);
    if (w) w(t);
    else this.hellos.set(h.hello, t);
  }

  /** The traffic program tagged `tag`, once it has said hello; rejects after `timeoutMs`. */
  wait(tag: string, timeoutMs: number): Promise<Traffic> {
    const t = this.hellos.get(tag);
    if (t) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no traffic program "${tag}" after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.wanted.set(tag, (x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }

  close(): void {
    this.server.stop(true);
  }
}
