import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Fail } from "../errors.ts";
import { type Clock, systemClock } from "../sys/clock.ts";
import { SOCKET_SUFFIX } from "./paths.ts";
import { MAX_STATUS_BYTES, parseStatusDocument, type StatusDocument } from "./status-document.ts";

/**
 * How long a status socket may take to answer. A live process answers at once (it writes a document it has
 * in memory); 2 s covers a loaded machine, and a hung process does not hang `status`.
 */
export const STATUS_READ_MS = 2_000;

/** The status sockets in `runtimeDir`, sorted; none when it does not exist. */
export function statusSockets(runtimeDir: string): string[] {
  try {
    return readdirSync(runtimeDir)
      .filter((f) => f.endsWith(SOCKET_SUFFIX))
      .sort()
      .map((f) => join(runtimeDir, f));
  } catch {
    return [];
  }
}

/**
 * Reads the status document from the socket at `path`. Throws E_NOT_RUNNING when nothing answers there (no
 * socket, or one left by a dead process), when the answer is late, or is no status document of this version.
 */
export async function readStatus(
  path: string,
  o: { clock?: Clock; timeoutMs?: number } = {},
): Promise<StatusDocument> {
  let got = await readOnce(path, o);
  for (let i = 1; i < STATUS_TRIES && got === "reset"; i++) {
    // Resets come in runs while the server is busy: let it breathe.
    await new Promise<void>((r) => (o.clock ?? systemClock).setTimer(RETRY_PAUSE_MS * i, r));
    got = await readOnce(path, o);
  }
  if (got === undefined || got === "reset") throw Fail.notRunning(path);
  const doc = parseStatusDocument(got);
  if (!doc) throw Fail.badStatusReply(path);
  return doc;
}

/**
 * Bun's client (1.4.5) fails about one connection in three to a live unix socket whose server answers and
 * closes at once, with ECONNRESET in `connect`, before any byte: the server did accept, so the attempt is
 * worth repeating, as is any failure but ECONNREFUSED/ENOENT (nobody listens), which a dead socket answers
 * at once. 12 tries, with growing pauses, leave about one failure in a million at the rate above.
 */
const STATUS_TRIES = 12;
/** The pause before the Nth retry is N times this: 5 ms, 10 ms, ... at most 330 ms in all. */
const RETRY_PAUSE_MS = 5;

/** What a connect to a unix socket says when no process listens on it (a dead process's socket, or none). */
const DEAD: ReadonlySet<string> = new Set(["ECONNREFUSED", "ENOENT"]);

/** Whether something accepts connections on the unix socket `path` (ECONNREFUSED or ENOENT: nothing does). */
export async function socketAnswers(path: string): Promise<boolean> {
  for (let i = 0; i < STATUS_TRIES; i++) {
    const code = await new Promise<string | undefined>((resolve) => {
      Bun.connect({ unix: path, socket: { data() {}, open: (s) => void s.end() } }).then(
        () => resolve(undefined),
        (e: NodeJS.ErrnoException) => resolve(e.code ?? "EUNKNOWN"),
      );
    });
    if (code === undefined) return true;
    if (DEAD.has(code)) return false;
    await Bun.sleep(RETRY_PAUSE_MS * (i + 1));
  }
  return true; // always reset, never refused: a process is there, accepting and closing at once
}

/** One try: the document's text, "reset" (see STATUS_TRIES), or undefined (nothing answers, or too late). */
async function readOnce(
  path: string,
  o: { clock?: Clock; timeoutMs?: number },
): Promise<string | "reset" | undefined> {
  const clock = o.clock ?? systemClock;
  const chunks: Uint8Array[] = [];
  let size = 0;
  return new Promise<string | "reset" | undefined>((resolve) => {
    let settled = false;
    const settle = (v: string | "reset" | undefined) => {
      if (settled) return;
      settled = true;
      cancel();
      resolve(v);
    };
    const cancel = clock.setTimer(o.timeoutMs ?? STATUS_READ_MS, () => {
      socket?.end();
      settle(undefined);
    });
    let socket: { end(): void } | undefined;
    // Only "nobody listens" is final; a connection lost before any byte (a reset, a full backlog on a busy
    // machine) is worth another try.
    const failed = (e: unknown) => {
      const code = (e as NodeJS.ErrnoException | undefined)?.code;
      settle(size === 0 && !DEAD.has(code ?? "") ? "reset" : undefined);
    };
    Bun.connect({
      unix: path,
      socket: {
        data(s, chunk) {
          size += chunk.length;
          if (size > MAX_STATUS_BYTES) {
            s.end();
            return settle("");
          }
          chunks.push(new Uint8Array(chunk));
        },
        // Closed before any byte: the same lost connection (a live process always sends its document).
        close: () => settle(size === 0 ? "reset" : Buffer.concat(chunks).toString("utf8")),
        error: (_s, e) => failed(e),
        connectError: (_s, e) => failed(e),
      },
    }).then((s) => {
      socket = s;
      if (settled) s.end();
    }, failed);
  });
}
