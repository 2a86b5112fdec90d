// Why the first connection to Redis failed, found out with one TLS handshake of our own: Bun's RedisClient
// reports a refused certificate, a plain client at a TLS port and a refused connection all as
// "Connection closed", which tells an operator nothing.
import { Fail, type NetpunchError } from "../errors.ts";

/**
 * @default 2_000 ms: as the link's connection timeout. A TLS server answers a ClientHello in one round trip;
 * a plain Redis never does (it waits for a command), so silence this long means the port does not speak TLS.
 */
const PROBE_TIMEOUT_MS = 2_000;

/** What one handshake attempt found at the store's address. */
export type TlsProbe =
  | { kind: "refused"; why: string }
  /** A TCP connection, but no TLS answer: a plain Redis (or something else). */
  | { kind: "silent" }
  /** A TLS server; `untrusted` says why its certificate was not accepted (undefined: it was). */
  | { kind: "tls"; untrusted?: string };

/** One TLS handshake with `host:port`, its certificate checked against `ca` (the system's CAs without one). */
export function probeTls(host: string, port: number, ca: string | undefined): Promise<TlsProbe> {
  return new Promise((resolve) => {
    let done = false;
    // Ended with the verdict, whichever it is: a server that takes the connection and never answers would
    // otherwise keep it open (and the process alive) after connect() has failed.
    let socket: { end(): void } | undefined;
    const finish = (p: TlsProbe) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.end();
      resolve(p);
    };
    const timer = setTimeout(() => finish({ kind: "silent" }), PROBE_TIMEOUT_MS);
    Bun.connect({
      hostname: host,
      port,
      // Not refused here: the handshake's verdict is what this probe is for, read in `handshake`.
      tls: { ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: false },
      socket: {
        handshake(socket, _ok, error) {
          const code = (error as NodeJS.ErrnoException | null)?.code;
          finish({ kind: "tls", ...(error ? { untrusted: `${error.message} (${code})` } : {}) });
          socket.end();
        },
        data() {},
        close() {
          finish({ kind: "silent" });
        },
        connectError(_socket, error) {
          finish({ kind: "refused", why: (error as NodeJS.ErrnoException).code ?? error.message });
        },
      },
    }).then(
      (s) => {
        socket = s;
        if (done) s.end(); // the verdict came before the connection was handed over
      },
      (e: unknown) => finish({ kind: "refused", why: String((e as Error)?.message ?? e) }),
    );
  });
}

/**
 * The failure to report for a first connection that failed, from what a probe found: a certificate not
 * trusted, a TLS port named by redis://, a rediss:// URL at a plain port, a refused connection; undefined
 * when the probe found nothing wrong with the transport (a password, say: the client's own error stands).
 */
export function tlsDiagnosis(
  where: string,
  tls: boolean,
  probe: TlsProbe,
  cause: unknown,
): NetpunchError | undefined {
  if (probe.kind === "refused")
    return Fail.storeDown(where, `connection refused (${probe.why})`, cause, "start");
  if (tls && probe.kind === "silent") return Fail.storeNotTls(where, cause);
  if (tls && probe.kind === "tls" && probe.untrusted !== undefined)
    return Fail.storeUntrusted(where, probe.untrusted, cause);
  if (!tls && probe.kind === "tls") return Fail.storeWantsTls(where, cause);
  return undefined;
}
