import type { Clock } from "../sys/clock.ts";
import type { Role } from "../types.ts";
import { runTunnel, type SubscribeAddresses, type TunnelHandle, type TunnelJob } from "./run-tunnel.ts";
import type { TunnelStatus } from "./supervisor.ts";

/** One tunnel of a config, as the supervisor needs it. */
export interface SupervisedTunnel {
  name: string;
  session: string;
  role: Role;
  job: TunnelJob;
  /** The partner's pinned key, as its fingerprint, once known; shown by `status`. */
  partnerKey?: () => string | undefined;
  /** Proxy mode: what the running proxy counted, and where the partner is now; undefined while none runs. */
  proxy?: () => ProxyStatus | undefined;
}

/** A proxy-mode tunnel's traffic: tunnel datagrams (not keepalives) and their payload bytes, each way. */
export interface ProxyStatus {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** The partner's moves to a new address (NAT rebindings) the proxy followed. */
  moves: number;
  /** Where the partner is now ("HOST:PORT"): the punch's address, or the last one it moved to. */
  remote: string;
  /** The path carrying the tunnel now (the proxy moves it between the two); absent from an older `up`. */
  path?: "direct" | "relay";
  /** Moves between direct and relay so far, and the last one (when, ms since the epoch; where to; why). */
  switches?: number;
  lastSwitch?: { at: number; to: "direct" | "relay"; reason: string };
  /** Whether the relay is bound on both sides: there is somewhere to fall back to. */
  relayReady?: boolean;
  /** The relay is reached over the WebSocket to the server (server_tcp): the row's path is "ws-relay". */
  websocket?: boolean;
}

/** A row's path: the punch's (or the proxy's) kind, or "ws-relay": the relay, over the WebSocket. */
export type RowPath = NonNullable<TunnelStatus["path"]> | "ws-relay";

/** One row of `netpunch status`: the supervisor's status and what the config says of the tunnel. */
export interface TunnelRow extends Omit<TunnelStatus, "path"> {
  path?: RowPath;
  name: string;
  session: string;
  role: Role;
  partnerKey?: string;
  /** Proxy mode, while the proxy runs; `remote` is then its `remote` (it follows a rebinding). */
  proxy?: Omit<ProxyStatus, "remote">;
}

export interface SuperviseAllOptions {
  tunnels: readonly SupervisedTunnel[];
  clock: Clock;
  addressChanges?: SubscribeAddresses;
  /** Stops every tunnel. */
  signal?: AbortSignal;
  onStatus?: (name: string, status: TunnelStatus) => void;
  onLog?: (name: string, level: "info" | "warn" | "error", message: string) => void;
  /** Which failures another round may fix. @default runTunnel's: a NetpunchError with a RETRYABLE_CODES code */
  retryable?: (e: unknown) => boolean;
}

export interface Supervision {
  /** Every tunnel's row, in the config's order. */
  rows(): TunnelRow[];
  /** Retries one tunnel (a failed one's explicit retry), or every tunnel without a name. */
  retry(name?: string): void;
  /** Stops every tunnel; resolves once all their rounds have ended. */
  stop(): Promise<void>;
  /** Resolves once every tunnel is stopped. */
  readonly done: Promise<void>;
}

/**
 * Supervises several tunnels in one process, each on its own TunnelSupervisor: one failing, or its job or
 * callbacks throwing, never stops or delays the others (runTunnel turns a throw into that tunnel's failure).
 */
export function superviseAll(o: SuperviseAllOptions): Supervision {
  const handles: { t: SupervisedTunnel; h: TunnelHandle }[] = o.tunnels.map((t) => ({
    t,
    h: runTunnel({
      name: t.name,
      job: t.job,
      clock: o.clock,
      ...(o.addressChanges ? { addressChanges: o.addressChanges } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.retryable ? { retryable: o.retryable } : {}),
      onStatus: (s) => o.onStatus?.(t.name, s),
      onLog: (level, message) => o.onLog?.(t.name, level, message),
    }),
  }));
  const done = Promise.all(handles.map(({ h }) => h.done)).then(() => {});
  return {
    rows: () => handles.map(({ t, h }) => row(t, h.status())),
    retry(name) {
      for (const { t, h } of handles) if (name === undefined || t.name === name) h.retry();
    },
    async stop() {
      await Promise.all(handles.map(({ h }) => h.stop()));
    },
    done,
  };
}

function row(t: SupervisedTunnel, s: TunnelStatus): TunnelRow {
  let partnerKey: string | undefined;
  try {
    partnerKey = t.partnerKey?.();
  } catch {
    partnerKey = undefined; // an unreadable pin store shows no key rather than no status
  }
  const base = {
    name: t.name,
    session: t.session,
    role: t.role,
    ...s,
    ...(partnerKey ? { partnerKey } : {}),
  };
  const p = s.state === "up" ? t.proxy?.() : undefined;
  if (!p) return base;
  const { remote, ...proxy } = p;
  return {
    ...base,
    remote,
    ...(p.path ? { path: proxiedPath(s.path, p.path, p.websocket === true) } : {}),
    proxy,
  };
}

/**
 * The row's path once the proxy has moved the tunnel: "relay" on the relay ("ws-relay" over the WebSocket);
 * on a direct path the punch's own kind (lan, birthday...) when the punch ended direct, else "direct".
 */
function proxiedPath(punched: TunnelStatus["path"], now: "direct" | "relay", websocket: boolean): RowPath {
  if (now === "relay") return websocket ? "ws-relay" : "relay";
  return punched && punched !== "relay" ? punched : "direct";
}
