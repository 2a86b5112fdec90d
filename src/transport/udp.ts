import { normalizeHost } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { Datagram, DatagramHandler, ErrorHandler, Transport } from "./types.ts";

const PENDING_ICMP = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);

/**
 * The socket's error handler. Without one Bun prints ICMP errors (port unreachable) to stderr; they are
 * expected in punching. Bun 1.4 passes only the error, its types say (socket, error): take the Error.
 */
const reportErrors =
  (onError?: ErrorHandler) =>
  (...args: unknown[]): void => {
    const err = args.find((a) => a instanceof Error) as { code?: string } | undefined;
    onError?.(err?.code ?? "EUNKNOWN");
  };

/** Sending after close is refused, and a second close is a no-op (the port is already released). */
function lifetime(socket: { close(): void }) {
  let open = true;
  return {
    get open() {
      return open;
    },
    close() {
      if (!open) return;
      open = false;
      socket.close();
    },
  };
}

/** The only place that touches Bun.udpSocket. */
export async function openUdp(
  bind: Endpoint,
  onDatagram: DatagramHandler,
  onError?: ErrorHandler,
): Promise<Transport> {
  let socket: Bun.udp.Socket<"uint8array">;
  try {
    socket = await Bun.udpSocket({
      hostname: bind.host,
      port: bind.port,
      // A Uint8Array as is: a view over a Buffer's `.buffer` made Bun materialise an ArrayBuffer for every
      // datagram (about 1 us of a relay's 8-14 us per packet, bench/relay.ts).
      binaryType: "uint8array",
      socket: {
        data(_s, data, port, address) {
          // An IPv4 address is already normal (digits and dots); only a v6 one may need unwrapping.
          const host = address.includes(":") ? normalizeHost(address) : address;
          onDatagram(data, { host, port });
        },
        error: reportErrors(onError),
      },
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const where = bind.host.includes(":") ? `[${bind.host}]:${bind.port}` : `${bind.host}:${bind.port}`;
    if (code === "EADDRINUSE") {
      throw Fail.portInUse(bind.port, where, e);
    }
    if (code === "EACCES") {
      throw Fail.bindDenied(where, e);
    }
    throw Fail.bindFailed(where, (e as Error).message, e);
  }
  const life = lifetime(socket);
  const v4only = !bind.host.includes(":");
  // A v4 socket cannot reach a v6 candidate; skipping it is normal, not an error.
  const unreachable = (to: Endpoint) => v4only && to.host.includes(":");
  const send = (data: Uint8Array, to: Endpoint): boolean => {
    if (!life.open || unreachable(to)) return false;
    try {
      return socket.send(data, to.port, to.host);
    } catch (e) {
      // An ICMP error for an EARLIER datagram (port or host unreachable) is pending on the socket and the
      // kernel reports it on this send instead, without sending. That error is now consumed: report it and
      // send again, or one unreachable candidate would silently cost the next candidate its PING.
      const code = (e as { code?: string }).code;
      if (!code || !PENDING_ICMP.has(code)) return false;
      onError?.(code);
      try {
        return socket.send(data, to.port, to.host);
      } catch {
        return false;
      }
    }
  };
  const sendMany = (datagrams: readonly Datagram[]): number => {
    if (!life.open) return 0;
    const todo = datagrams.filter((d) => !unreachable(d.to));
    const flat: (Uint8Array | number | string)[] = [];
    for (const d of todo) flat.push(d.data, d.to.port, d.to.host);
    let sent = 0;
    let at = 0;
    // sendmmsg stops at the first datagram the kernel refuses (a pending ICMP error, as in send), and says
    // how many went before it: that one goes through send(), which handles it, and the rest in one call
    // again. Each round moves on by at least one datagram.
    while (at < todo.length) {
      let n = 0;
      try {
        n = socket.sendMany(at === 0 ? flat : flat.slice(at * 3));
      } catch {
        n = 0;
      }
      sent += n;
      at += n;
      const failed = todo[at];
      if (failed === undefined) break;
      if (send(failed.data, failed.to)) sent++;
      at++;
    }
    return sent;
  };
  return {
    local: { host: bind.host, port: socket.port },
    send,
    sendMany,
    // Bun's send and sendMany hand the bytes to sendto/sendmmsg before they return; nothing is queued.
    copiesOnSend: true,
    close: () => life.close(),
    get open() {
      return life.open;
    },
  };
}

/** A UDP port that was free a moment ago, for callers that must name a port before they bind it. */
export async function freeUdpPort(host = "0.0.0.0"): Promise<number> {
  const t = await openUdp({ host, port: 0 }, () => {});
  const port = t.local.port;
  t.close();
  return port;
}

/** A UDP socket connected to one remote address: only its datagrams come in, and the kernel picks our address. */
export interface ConnectedTransport {
  /** The local address the kernel chose to reach the remote (the one a gateway sees us as). */
  readonly localHost: string;
  send(data: Uint8Array): boolean;
  close(): void;
}

/**
 * Opens a connected UDP socket. Used to talk to the gateway (PCP/NAT-PMP): connected, an ICMP port
 * unreachable surfaces as ECONNREFUSED at once, and the local address is the one the gateway sees.
 */
export async function openConnectedUdp(
  remote: Endpoint,
  onDatagram: (data: Uint8Array) => void,
  onError?: ErrorHandler,
): Promise<ConnectedTransport> {
  const socket = await Bun.udpSocket({
    binaryType: "uint8array",
    connect: { hostname: remote.host, port: remote.port },
    socket: {
      data(_s, data) {
        onDatagram(data);
      },
      error: reportErrors(onError),
    },
  });
  const life = lifetime(socket);
  return {
    localHost: normalizeHost(socket.address.address),
    send(data) {
      if (!life.open) return false;
      try {
        return socket.send(data);
      } catch {
        return false;
      }
    },
    close: () => life.close(),
  };
}
