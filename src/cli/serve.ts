import { defineCommand } from "citty";
import * as v from "valibot";
import { formatEndpoint, parseAddress } from "../addr.ts";
import { isNetpunchError } from "../errors.ts";
import { DEFAULT_LIMITS } from "../rendezvous/core.ts";
import type { StoreStats } from "../rendezvous/redis-link.ts";
import { publicRelayHost } from "../rendezvous/relay-directory.ts";
import { DEFAULT_RELAY_LIMITS } from "../rendezvous/relay-session.ts";
import type { RendezvousServer, ServerStats } from "../rendezvous/server.ts";
import { MemoryStore } from "../rendezvous/store.ts";
import type { WsServerOptions } from "../transport/ws-server.ts";
import { checkArgs, logArgs, secondsOption, secretArgs } from "./common.ts";
import { CliFail } from "./hints.ts";
import { eventLogger, makeLogger } from "./logger.ts";
import { metricsArgs } from "./metrics-option.ts";
import { readPem } from "./pem.ts";
import { resolveSecret } from "./secret.ts";
import { serverMetrics } from "./serve-metrics.ts";
import { connectStore, parseStore, sharedStore, storeArgs } from "./store.ts";
import { loadTenantsFile } from "./tenants-file.ts";

/** @default 60 s: as --relay-idle; a peer's keepalive (15 s) keeps a live connection well inside it. */
const DEFAULT_TCP_IDLE_S = 60;
/** Bun's WebSocket idle timer: 0 (off) or 8..960 s; 0 is not offered (a silent connection would stay forever). */
const MIN_TCP_IDLE_S = 8;
const MAX_TCP_IDLE_S = 960;
/** @default 65,537 bytes: the largest UDP datagram (65,535) and the 2-byte port in front of it. */
const DEFAULT_TCP_MAX_MESSAGE = 65_537;

export const serveArgs = {
  listen: {
    type: "string",
    valueHint: "HOST:PORT",
    default: "0.0.0.0:10001",
    description: "UDP address to listen on; [::]:PORT for IPv6",
  },
  "alt-port": {
    type: "string",
    valueHint: "PORT",
    description:
      "a second UDP port for NAT behaviour probing (netpunch doctor, strategy choice); open it too",
  },
  stun: {
    type: "boolean",
    description:
      "also answer standard STUN Binding requests (RFC 8489); off by default: STUN is unauthenticated",
  },
  relay: {
    type: "boolean",
    description: "offer a relay to pairs that cannot punch through (both behind symmetric NATs)",
  },
  "relay-max-sessions": {
    type: "string",
    valueHint: "N",
    default: "16",
    description: "relayed pairs at once",
  },
  "relay-rate": {
    type: "string",
    valueHint: "BYTES/S",
    default: String(DEFAULT_RELAY_LIMITS.bytesPerSecond),
    description: "bytes per second per relayed pair, both directions (12500000: 100 Mbit/s)",
  },
  "relay-total-rate": {
    type: "string",
    valueHint: "BYTES/S",
    description: "bytes per second for all relayed pairs together; default: no cap beyond each pair's",
  },
  "relay-ports": {
    type: "string",
    valueHint: "LOW-HIGH",
    description: "UDP ports the relays may use (open them in the firewall); default: any free port",
  },
  "relay-idle": {
    type: "string",
    valueHint: "SECONDS",
    default: "60",
    description: "close a relay once either peer has sent nothing for this long",
  },
  "relay-host": {
    type: "string",
    valueHint: "ADDR",
    description:
      "with --relay and a shared --store: the address peers held by other servers bind at for this server's relays (its public IP); default: the --listen address unless a wildcard",
  },
  "relay-tcp": {
    type: "string",
    valueHint: "[HOST]:PORT",
    description:
      "also take peers over a WebSocket on this TCP address (e.g. 0.0.0.0:443), for networks that drop UDP; with --relay",
  },
  "tls-cert": {
    type: "string",
    valueHint: "FILE",
    description: "with --relay-tcp: the certificate chain (PEM): the WebSocket is served over TLS (wss://)",
  },
  "tls-key": {
    type: "string",
    valueHint: "FILE",
    description: "with --tls-cert: its private key (PEM)",
  },
  "tcp-idle": {
    type: "string",
    valueHint: "SECONDS",
    default: String(DEFAULT_TCP_IDLE_S),
    description: "close a WebSocket connection silent this long (8 to 960)",
  },
  "tcp-max-message": {
    type: "string",
    valueHint: "BYTES",
    default: String(DEFAULT_TCP_MAX_MESSAGE),
    description: "the largest WebSocket message taken; a larger one closes its connection",
  },
  "max-sessions": {
    type: "string",
    valueHint: "N",
    default: String(DEFAULT_LIMITS.maxSessions),
    description: "sessions held at once; a peer beyond it is told the server is full",
  },
  "max-per-address": {
    type: "string",
    valueHint: "N",
    default: String(DEFAULT_LIMITS.maxPerAddress),
    description: "registrations from one IP address at once (many hosts may share one behind a NAT)",
  },
  "stats-interval": {
    type: "string",
    valueHint: "SECONDS",
    description: "log statistics (sessions, pairs made, packets, drops by reason) this often",
  },
  ...metricsArgs,
  ...storeArgs,
  ...secretArgs,
  "secrets-file": {
    type: "string",
    valueHint: "FILE",
    description:
      'serve several tenants, each with its own secret, from a TOML file ([tenants.NAME] with secret_file = "PATH" or secret = "...", optional max_sessions, max_per_address, max_relays); a tenant\'s peers meet only its own; SIGHUP reloads it; instead of --secret/--secret-file',
  },
  ...logArgs,
} as const;

/** One log line of server statistics (and the shared store's, since the last line); also printed at shutdown. Pure. */
export function statsLine(s: ServerStats, store?: StoreStats): string {
  const drops = Object.entries(s.dropped)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  const relayed =
    s.relays || s.relayedBytes ? `, ${s.relays} relays open, ${s.relayedBytes} bytes relayed` : "";
  const stun = s.stunAnswered ? `, ${s.stunAnswered} STUN answers` : "";
  const shared = store
    ? `; store ${store.up ? "up" : "DOWN"}: ${store.ops} ops, mean ${store.meanMs.toFixed(2)} ms, max ${store.maxMs.toFixed(2)} ms, ${store.errors} errors`
    : "";
  const tenants = s.tenants
    ? `; tenants: ${Object.entries(s.tenants)
        .map(([name, t]) => `${name} ${t.sessions} waiting, ${t.pairsMade} pairs`)
        .join("; ")}`
    : "";
  return `stats: ${s.sessions} sessions waiting, ${s.pairsMade} pairs made, ${s.packetsIn} packets in, ${s.packetsOut} out${relayed}${stun}, dropped: ${drops || "none"}${shared}${tenants}`;
}

const PositiveInt = v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1));

/** "20000-20099" as a port range; a usage error naming the option otherwise. Pure. */
export function portRange(text: string): { low: number; high: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1024 || high > 65535 || low > high) {
    throw CliFail.badPortRange(text);
  }
  return { low, high };
}

const int = (value: string, flag: string, example: string) => {
  const r = v.safeParse(PositiveInt, value);
  if (!r.success) throw CliFail.notPositiveInteger(flag, value, example);
  return r.output;
};

export type TcpArgs = { listen?: string; cert?: string; key?: string; idle: string; maxMessage: string };

/** The WebSocket listener's options (serve({ tcp })), checked; undefined without --relay-tcp. */
export function tcpOptions(o: TcpArgs): WsServerOptions | undefined {
  const idleTimeoutS = int(o.idle, "tcp-idle", String(DEFAULT_TCP_IDLE_S));
  if (idleTimeoutS < MIN_TCP_IDLE_S || idleTimeoutS > MAX_TCP_IDLE_S)
    throw CliFail.notPositiveInteger(
      "tcp-idle",
      o.idle,
      `${DEFAULT_TCP_IDLE_S} (${MIN_TCP_IDLE_S} to ${MAX_TCP_IDLE_S})`,
    );
  const maxMessageBytes = int(o.maxMessage, "tcp-max-message", String(DEFAULT_TCP_MAX_MESSAGE));
  if ((o.cert === undefined) !== (o.key === undefined))
    throw CliFail.tlsOptions("--tls-cert and --tls-key go together");
  if (o.listen === undefined) {
    if (o.cert !== undefined) throw CliFail.tlsOptions("--tls-cert needs --relay-tcp");
    return undefined;
  }
  const parsed = parseAddress(o.listen, "--relay-tcp address", { allowEmptyHost: true });
  const tls =
    o.cert !== undefined && o.key !== undefined
      ? { cert: readPem("tls-cert", o.cert), key: readPem("tls-key", o.key) }
      : undefined;
  return {
    listen: { host: parsed.host || "0.0.0.0", port: parsed.port },
    ...(tls ? { tls } : {}),
    idleTimeoutS,
    maxMessageBytes,
  };
}

type RelayArgs = {
  maxSessions: string;
  rate: string;
  totalRate?: string;
  idle: string;
  ports?: string;
  host?: string;
};

function relayOptions(o: RelayArgs) {
  return {
    maxSessions: int(o.maxSessions, "relay-max-sessions", "16"),
    bytesPerSecond: int(o.rate, "relay-rate", "12500000 (100 Mbit/s)"),
    totalBytesPerSecond:
      o.totalRate !== undefined ? int(o.totalRate, "relay-total-rate", "50000000 (400 Mbit/s)") : undefined,
    ports: o.ports !== undefined ? portRange(o.ports) : undefined,
    idleMs: secondsOption(o.idle, "relay-idle") ?? 60_000,
    ...(o.host !== undefined ? { host: checkedRelayHost(o.host) } : {}),
  };
}

/** --relay-host: one IP address (E_ADDRESS otherwise, as serve() says it). */
function checkedRelayHost(host: string): string {
  return publicRelayHost("", host) as string;
}

/** Runs the server until SIGINT/SIGTERM. Shared by `serve` and the seed form `c SECRET ADDR`. */
export async function runServer(o: {
  listen: string;
  secret?: string;
  secretFile?: string;
  /** serve --secrets-file: a multi-tenant server, reloaded on SIGHUP (src/cli/tenants-file.ts). */
  secretsFile?: string;
  statsInterval?: string;
  limits?: { maxSessions: string; maxPerAddress: string };
  relay?: RelayArgs;
  relayOn?: boolean;
  tcp?: TcpArgs;
  altPort?: string;
  stun?: boolean;
  /** --store and --store-password-file: memory unless given. */
  store?: string;
  storePasswordFile?: string;
  /** --store-ca: the CA to trust for a rediss:// store. */
  storeCa?: string;
  quiet?: boolean;
  verbose?: boolean;
  seed?: boolean;
  /** serve --metrics [HOST]:PORT: Prometheus metrics and /healthz (src/cli/serve-metrics.ts). */
  metrics?: string;
  /** Stops the server (SIGINT/SIGTERM). */
  signal: AbortSignal;
}) {
  const logger = makeLogger(o);
  const parsed = parseAddress(o.listen, "listen address", { allowEmptyHost: true });
  if (o.secretsFile !== undefined && (o.secret !== undefined || o.secretFile !== undefined))
    throw CliFail.secretsFileAndSecret();
  const tenants = o.secretsFile !== undefined ? loadTenantsFile(o.secretsFile, logger) : undefined;
  const secret = tenants
    ? undefined
    : resolveSecret({ secret: o.secret, secretFile: o.secretFile, logger, fromSeedArgs: o.seed });
  const statsMs = secondsOption(o.statsInterval, "stats-interval");
  // Checked even without --relay: a typo in a relay option is an error, not silently ignored.
  const relayChecked = o.relay ? relayOptions(o.relay) : undefined;
  const relay = o.relayOn ? relayChecked : undefined;
  const tcp = o.tcp ? tcpOptions(o.tcp) : undefined;
  const limits = o.limits && {
    maxSessions: int(o.limits.maxSessions, "max-sessions", String(DEFAULT_LIMITS.maxSessions)),
    maxPerAddress: int(o.limits.maxPerAddress, "max-per-address", String(DEFAULT_LIMITS.maxPerAddress)),
  };
  const storeChoice = parseStore(o.store ?? "memory", o.storePasswordFile, o.storeCa);
  // Other servers' peers are told this server's relay address: a wildcard listen names none.
  if (relay && storeChoice.kind === "redis" && publicRelayHost(parsed.host, relay.host) === undefined)
    throw CliFail.relayHostNeeded(o.listen);
  // Made, not yet connected: the metrics count its operations too.
  const shared = sharedStore(storeChoice, logger);
  // Checked before anything binds; the store it instruments is the server's.
  const metrics = o.metrics !== undefined ? serverMetrics(o.metrics, shared?.store) : undefined;
  // SIGHUP reads the tenants file again; a file that is not valid keeps the tenants loaded before. The
  // handler goes in before the server starts: Bun installs it a moment later (a SIGHUP right after
  // "listening" was lost 1 time in 8), and one that comes while the server starts is carried out after.
  let live: RendezvousServer | undefined;
  let reloadAsked = false;
  const reload = () => {
    if (o.secretsFile === undefined) return;
    if (!live) {
      reloadAsked = true;
      return;
    }
    try {
      const c = live.setTenants(loadTenantsFile(o.secretsFile, logger));
      const names = (what: string, list: string[]) => (list.length ? [`${what} ${list.join(", ")}`] : []);
      const changed = [
        ...names("added", c.added),
        ...names("removed", c.removed),
        ...names("changed", c.changed),
      ];
      logger.info(`tenants reloaded from ${o.secretsFile}: ${changed.join("; ") || "nothing changed"}`);
    } catch (e) {
      const why = isNetpunchError(e) ? e.message : String(e);
      logger.error(`tenants not reloaded (the ones loaded before still serve): ${why}`);
    }
  };
  if (tenants) process.on("SIGHUP", reload);
  const stopReloads = () => process.off("SIGHUP", reload);
  // Imported here: the server is start-up time only for the commands that serve.
  const { serve } = await import("../rendezvous/server.ts");
  // Each tenant's sessions under a prefix of its own on a shared store; counted by --metrics as one store.
  const tenantStore = (name: string) => {
    const own = shared ? shared.tenantStore(name) : new MemoryStore();
    return metrics ? metrics.instrument(own) : own;
  };
  let server: RendezvousServer;
  try {
    if (shared) await connectStore(shared, storeChoice, logger);
    server = await serve({
      ...(shared
        ? { store: shared.store, bus: shared.bus, nonces: shared.nonces, relayDirectory: shared.relays }
        : {}),
      ...(metrics ? { store: metrics.store } : {}),
      ...(limits ? { limits } : {}),
      listen: { host: parsed.host || "0.0.0.0", port: parsed.port },
      ...(tenants ? { tenants, tenantStore } : { secret }),
      signal: o.signal,
      onEvent: eventLogger(logger),
      relay,
      ...(tcp ? { tcp } : {}),
      stun: o.stun === true,
      altPort:
        o.altPort !== undefined
          ? parseAddress(`:${o.altPort}`, "--alt-port", { allowEmptyHost: true }).port
          : undefined,
    });
  } catch (e) {
    stopReloads();
    throw e;
  }
  if (tenants) logger.info(`tenants from ${o.secretsFile}: ${tenants.map((t) => t.name).join(", ")}`);
  logger.info(
    `rendezvous server listening on UDP ${formatEndpoint(server.local)}${relay ? " (relay on)" : ""}${o.altPort ? `, NAT probing on UDP port ${o.altPort}` : ""}`,
  );
  if (server.localTcp)
    logger.info(
      `rendezvous server listening on TCP ${formatEndpoint(server.localTcp)} (WebSocket${tcp?.tls ? " over TLS" : ""})${relay ? "" : "; without --relay a peer on it cannot be relayed"}`,
    );
  live = server;
  if (reloadAsked) reload(); // a SIGHUP that came while the server started
  // Statistics are operational output: they show even with --quiet, which hides per-session chatter.
  const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const line = () => statsLine(server.stats(), shared?.link.takeStats());
  const timer = statsMs ? setInterval(() => say(line()), statsMs) : undefined;
  let running: ReturnType<NonNullable<typeof metrics>["start"]> | undefined;
  try {
    running = metrics?.start(server, logger);
    await server.closed;
  } finally {
    running?.close();
    clearInterval(timer);
    stopReloads();
    server.close(); // a listener that failed to start leaves no server behind
    shared?.link.close();
  }
  say(`stopped (graceful); ${line()}`);
}

export const serveCommand = (signal: AbortSignal) =>
  defineCommand({
    meta: { name: "serve", description: "run the rendezvous server (on a host with a public IP)" },
    args: serveArgs,
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, serveArgs);
      await runServer({
        listen: args.listen,
        secret: args.secret,
        secretFile: args["secret-file"],
        secretsFile: args["secrets-file"],
        statsInterval: args["stats-interval"],
        limits: { maxSessions: args["max-sessions"], maxPerAddress: args["max-per-address"] },
        altPort: args["alt-port"],
        stun: args.stun,
        store: args.store,
        storePasswordFile: args["store-password-file"],
        storeCa: args["store-ca"],
        relay: {
          maxSessions: args["relay-max-sessions"],
          rate: args["relay-rate"],
          totalRate: args["relay-total-rate"],
          idle: args["relay-idle"],
          ports: args["relay-ports"],
          host: args["relay-host"],
        },
        relayOn: args.relay === true,
        tcp: {
          listen: args["relay-tcp"],
          cert: args["tls-cert"],
          key: args["tls-key"],
          idle: args["tcp-idle"],
          maxMessage: args["tcp-max-message"],
        },
        metrics: args.metrics,
        quiet: args.quiet,
        verbose: args.verbose,
        signal,
      });
    },
  });
