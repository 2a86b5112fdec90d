import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import type { Socket } from "bun";
import { Fail } from "../errors.ts";
import { statusSocketPath } from "./paths.ts";
import { socketAnswers } from "./status-client.ts";
import type { StatusDocument } from "./status-document.ts";

/** The runtime directory's mode when we create it: only its owner may even see which configs run. */
const RUNTIME_DIR_MODE = 0o700;
/** The socket's mode: the status shows addresses and key fingerprints, for the owner (root) alone. */
const SOCKET_MODE = 0o600;
/** The umask while the socket is created, so it is born 0600: no moment where others could connect. */
const SOCKET_UMASK = 0o177;

export interface StatusServerOptions {
  runtimeDir: string;
  /** The config's name: the socket is RUNTIME_DIR/CONFIG.sock. */
  config: string;
  /** The document each client gets, made when it connects. */
  document: () => StatusDocument;
}

export interface StatusServer {
  readonly path: string;
  /** Stops listening and removes the socket. */
  close(): void;
}

interface Pending {
  rest: Uint8Array;
}

/**
 * Serves the status on a unix socket: each client that connects gets one JSON document and the connection
 * is closed; nothing a client sends is read. A socket left by a dead process (nothing answers on it) is
 * replaced; one a live process answers on is refused, so two `up` of one config never run at once.
 */
export async function serveStatus(o: StatusServerOptions): Promise<StatusServer> {
  const path = statusSocketPath(o.runtimeDir, o.config);
  try {
    mkdirSync(o.runtimeDir, { recursive: true, mode: RUNTIME_DIR_MODE });
  } catch (e) {
    throw Fail.statusListen(path, e);
  }
  await clearStale(path);
  const send = (s: Socket<Pending>) => {
    const wrote = s.write(s.data.rest);
    s.data.rest = s.data.rest.subarray(Math.max(0, wrote));
    if (s.data.rest.length === 0) s.end();
  };
  const old = process.umask(SOCKET_UMASK);
  let listener: ReturnType<typeof Bun.listen<Pending>>;
  try {
    listener = Bun.listen<Pending>({
      unix: path,
      socket: {
        open(s) {
          s.data = { rest: new TextEncoder().encode(JSON.stringify(o.document())) };
          send(s);
        },
        drain: send,
        data() {}, // a client has nothing to say
      },
    });
  } catch (e) {
    throw Fail.statusListen(path, e);
  } finally {
    process.umask(old);
  }
  chmodSync(path, SOCKET_MODE); // whatever the umask did, the mode is this
  let closed = false;
  const remove = () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  // A process that exits without close() (an uncaught error) still leaves no socket behind.
  process.on("exit", remove);
  return {
    path,
    close() {
      if (closed) return;
      closed = true;
      process.off("exit", remove);
      listener.stop(true);
      remove();
    },
  };
}

/** Removes a socket nothing answers on (its process died); refuses a live one or a file that is no socket. */
async function clearStale(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw Fail.statusSocketBusy(path, false);
  if (await socketAnswers(path)) throw Fail.statusSocketBusy(path, true);
  unlinkSync(path);
}
