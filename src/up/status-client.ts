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
  const clock = o.clock ?? systemClock;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const text = await new Promise<string | undefined>((resolve) => {
    let settled = false;
    const settle = (v: string | undefined) => {
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
        close: () => settle(Buffer.concat(chunks).toString("utf8")),
        error: () => settle(undefined),
        connectError: () => settle(undefined),
      },
    }).then(
      (s) => {
        socket = s;
        if (settled) s.end();
      },
      () => settle(undefined),
    );
  });
  if (text === undefined) throw Fail.notRunning(path);
  const doc = parseStatusDocument(text);
  if (!doc) throw Fail.badStatusReply(path);
  return doc;
}
