import type { ArgsDef, ParsedArgs } from "citty";
import type { ConsolaInstance } from "consola";
import { checkSameFamily, formatEndpoint, parseAddress } from "../addr.ts";
import { Backoff } from "../backoff.ts";
import { NetpunchError } from "../errors.ts";
import { withholdSecret } from "../hooks/env.ts";
import { checkPartnerOffer, makeOffer, runHooks } from "../hooks/lifecycle.ts";
import { type AnyHook, type BuiltinHook, hookSpecs, loadHook, passthroughArgs } from "../hooks/load.ts";
import { checkHookOptions, mergedHookArgs, type PreparedHook } from "../hooks/run.ts";
import { sleep } from "../hooks/sleep.ts";
import { connectTunnelId, defaultStateDir } from "../hooks/state-dir.ts";
import type { PortMapping } from "../portmap/index.ts";
import { type RunningProxy, startProxy } from "../proxy/driver.ts";
import { type ConnectOptions, connect, type PunchedSocket } from "../punch/connect.ts";
import { freeUdpPort } from "../transport/udp.ts";
import type { Endpoint, PunchResult, Role } from "../types.ts";
import { HEALTHY_ROUND_MS, RETRYABLE_CODES, ROUND_RETRY } from "../up/retry.ts";
import { CliFail } from "./hints.ts";
import { eventLogger } from "./logger.ts";

/** The hooks a command line selects, loaded, and their options merged: what the commands are built with. */
export interface HookSelection {
  hooks: AnyHook[];
  /** Every selected hook's options, merged (part of the command's options and of its --help). */
  args: ArgsDef;
}

export const NO_HOOKS: HookSelection = Object.freeze({ hooks: [], args: {} });

/**
 * Loads the hooks a command line names with --hook (print when none), before citty parses it: their options
 * are part of the command line and of --help. With `onlyExplicit` (the hooks listing) no default is added.
 */
export async function selectHooks(
  rawArgs: string[],
  reserved: ArgsDef,
  o: { builtins: readonly BuiltinHook[]; onlyExplicit?: boolean },
): Promise<HookSelection> {
  const hooks: AnyHook[] = [];
  const explicit = rawArgs.some((a) => a === "--hook" || a.startsWith("--hook="));
  if (!o.onlyExplicit || explicit)
    for (const spec of hookSpecs(rawArgs)) hooks.push(await loadHook(spec, { builtins: o.builtins }));
  return { hooks, args: mergedHookArgs(hooks, reserved) };
}

export interface PeerRun {
  role: Role;
  /** One or more, raced (connect() registers with every one at once). */
  servers: readonly string[];
  /** Instead of `servers`: the server's WebSocket, where UDP is blocked (connect({ serverTcp })). */
  serverTcp?: { url: string; ca?: string };
  local: string;
  secret: Uint8Array;
  /** The pair key of a pair made by `netpunch pair` (connect({ pairKey })). */
  pairKey?: Uint8Array;
  session: string;
  timeoutMs: number | undefined;
  punchMs: number | undefined;
  serverSilentMs: number | undefined;
  lan: boolean;
  relay?: boolean;
  relayAfterMs?: number;
  loop: boolean;
  /** Ask the gateway for a port mapping (PCP/NAT-PMP) and offer it as a candidate. */
  portMap?: boolean;
  /** Proxy mode: keep the punched socket and give the hooks a loopback endpoint (src/proxy). */
  proxy?: boolean;
  /** The selected hooks, run after each punch. */
  hooks: AnyHook[];
  /** Every parsed option; each hook reads its own. */
  args: object;
  rawArgs: string[];
  logger: ConsolaInstance;
  signal: AbortSignal;
}

/** What every peer command passes the same way: its hooks, its parsed and raw options, its logger, the signal. */
export const commandParts = (
  selected: HookSelection,
  args: object,
  rawArgs: string[],
  logger: ConsolaInstance,
  signal: AbortSignal,
): Pick<PeerRun, "hooks" | "args" | "rawArgs" | "logger" | "signal"> => ({
  hooks: selected.hooks,
  args,
  rawArgs,
  logger,
  signal,
});

/**
 * Every server's address must be well formed, and one server must be of --local's family; of several,
 * connect() leaves out those of another family. A server's host name is checked by connect() once resolved.
 */
export function checkPeerAddresses(p: Pick<PeerRun, "local" | "servers">): void {
  const local = parseAddress(p.local, "local address", { allowEmptyHost: true, allowPortZero: true });
  const servers = p.servers.map((s) => parseAddress(s, "server address"));
  if (servers.length === 1) checkSameFamily(local, servers[0] as Endpoint);
}

/** Punch, then run the hooks; with --loop, punch again when they end (the original's `while :`). */
export async function runPeer(p: PeerRun): Promise<void> {
  const args = p.args as ParsedArgs;
  const extraArgs = passthroughArgs(p.rawArgs);
  const hooks = checkHookOptions(p.hooks, args, extraArgs); // before any packet
  // The exec hook's --exec-replace would end this process, and the proxy with it.
  if (p.proxy && args["exec-replace"] === true) throw CliFail.proxyReplaced();
  checkPeerAddresses(p); // before the gateway is asked for a port, too
  withholdSecret(p.secret); // no hook's child gets it
  const { mapping, local } = p.portMap ? await askGateway(p) : { mapping: undefined, local: p.local };
  try {
    await punchAndRun({ ...p, local, mapped: mapping?.external }, hooks);
  } finally {
    // The mapping outlives the punch: the tunnel uses it. It goes when netpunch does.
    await mapping?.remove();
  }
}

/** Asks the gateway (PCP, then NAT-PMP) to forward a public port to our local port. Never fails the run. */
export async function askGateway(p: PeerRun): Promise<{ mapping: PortMapping | undefined; local: string }> {
  const parsed = parseAddress(p.local, "local address", { allowEmptyHost: true, allowPortZero: true });
  const port = parsed.port || (await freeUdpPort(parsed.host || "0.0.0.0"));
  const local = parsed.host ? formatEndpoint({ host: parsed.host, port }) : `:${port}`;
  // Imported here: port mapping (PCP, NAT-PMP, UPnP) is start-up time only for the peers that ask for it.
  const { mapPort } = await import("../portmap/index.ts");
  const mapping = await mapPort({ localPort: port, signal: p.signal });
  if (mapping) {
    p.logger.info(
      `gateway ${mapping.gateway} forwards ${formatEndpoint(mapping.external)} to UDP port ${port} (${mapping.protocol})`,
    );
  } else
    p.logger.warn("--port-map: no gateway answered (PCP, NAT-PMP, UPnP-IGD); going on without a mapped port");
  return { mapping, local };
}

/** connect()'s options for one round of a peer command (connect, --loop, a tunnel of up), but its signal and events. */
export function punchOptions(p: PeerRun & { mapped?: Endpoint }): ConnectOptions {
  return {
    server: p.servers,
    ...(p.serverTcp ? { serverTcp: p.serverTcp } : {}),
    local: p.local,
    secret: p.secret,
    ...(p.pairKey ? { pairKey: p.pairKey } : {}),
    role: p.role,
    session: p.session,
    timeoutMs: p.timeoutMs,
    lan: p.lan,
    mapped: p.mapped,
    timings: {
      ...(p.punchMs !== undefined ? { punchMs: p.punchMs } : {}),
      ...(p.serverSilentMs !== undefined ? { serverSilentMs: p.serverSilentMs } : {}),
      ...(p.relay === false ? { relay: false } : {}),
      ...(p.relayAfterMs !== undefined ? { relayAfterMs: p.relayAfterMs } : {}),
    },
  };
}

/**
 * Proxy mode: the proxy runs for the life of the hooks, which get its loopback endpoint in place of the
 * partner's (the path stays in `via`); its sockets close when they end, or fail, or on the signal.
 * `onProxy` gets the running proxy (its live counters and remote, for `up`'s status), then undefined once
 * it is closed.
 */
export async function runProxied(
  punched: PunchedSocket,
  result: PunchResult,
  run: (r: PunchResult) => Promise<void>,
  p: Pick<PeerRun, "logger"> & { onProxy?: (proxy: RunningProxy | undefined) => void },
): Promise<void> {
  const proxy = await startProxy({
    punched,
    onEvent: (e) => {
      if (e.type === "proxy-moved")
        p.logger.info(`the partner moved to ${formatEndpoint(e.to)} (NAT rebinding); following`);
      else if (e.type === "proxy-path")
        // One line per switch: what a script (or the lab) waits for, and what an operator reads later.
        p.logger.info(
          e.path === "direct"
            ? `proxy: moved to direct (${e.reason})`
            : `proxy: direct path lost, back to the relay (${e.reason})`,
        );
      else if (e.type === "proxy-relay")
        p.logger.info(
          e.state === "ready"
            ? "proxy: the relay is ready to fall back to"
            : e.state === "rebinding"
              ? "proxy: the relay stopped answering; binding there again (our NAT may have given us a new port)"
              : "proxy: no relay to fall back to (the server refused it, or the partner never bound)",
        );
      else if (e.type === "proxy-udp")
        p.logger.info(`proxy: the relay answers over UDP at ${formatEndpoint(e.relay)}; left the WebSocket`);
      else p.logger.debug(`proxy: dropped a datagram from ${formatEndpoint(e.from)} (${e.reason})`);
    },
  });
  try {
    p.onProxy?.(proxy);
    p.logger.info(
      `proxy: the tunnel binds ${formatEndpoint(proxy.tunnel)} and sends to ${formatEndpoint(proxy.local)}; netpunch carries it to ${result.raddr} (${result.via})`,
    );
    if (proxy.websocket) p.logger.info("proxy: on the relay over the WebSocket");
    else if (proxy.path === "relay") p.logger.info("proxy: on the relay; probing for a direct path");
    await run({
      ...result,
      laddr: formatEndpoint(proxy.tunnel),
      lhost: proxy.tunnel.host,
      lport: proxy.tunnel.port,
      raddr: formatEndpoint(proxy.local),
      rhost: proxy.local.host,
      rport: proxy.local.port,
      proxy: true,
    });
  } finally {
    p.onProxy?.(undefined);
    proxy.close();
  }
}

async function punchAndRun(p: PeerRun & { mapped?: Endpoint }, hooks: PreparedHook[]): Promise<void> {
  // `connect`'s keys and pins: the state directory's, under "connect/SESSION".
  const place = { logger: p.logger, stateDir: defaultStateDir(), tunnel: connectTunnelId(p.session) };
  let pauses = new Backoff(ROUND_RETRY);
  for (let round = 1; ; round++) {
    const started = Date.now();
    let failed: NetpunchError | undefined;
    try {
      // A zero-config hook offers its key (made on first use); the partner's is checked and pinned first.
      const offering = await makeOffer(hooks, { ...place, signal: p.signal });
      // What a round leaves open for its tunnel (the WebSocket bridge of --server-tcp) ends with the round.
      const round = new AbortController();
      let punched: PunchedSocket | undefined;
      const result = await connect({
        ...punchOptions(p),
        ...(offering ? { offer: offering.bytes } : {}),
        ...(p.proxy
          ? {
              keepSocket: (s: PunchedSocket) => {
                punched = s;
              },
            }
          : {}),
        signal: AbortSignal.any([p.signal, round.signal]),
        onEvent: eventLogger(p.logger),
      });
      try {
        try {
          checkPartnerOffer(offering, result, place);
        } catch (e) {
          punched?.transport.close();
          throw e;
        }
        if (punched)
          await runProxied(punched, result, (r) => runHooks(hooks, r, { ...place, signal: p.signal }), p);
        else await runHooks(hooks, result, { ...place, signal: p.signal });
      } finally {
        round.abort();
      }
      if (!p.loop || p.signal.aborted) return;
      p.logger.info("the hooks have ended; punching again (--loop)");
    } catch (e) {
      if (!p.loop || p.signal.aborted || !(e instanceof NetpunchError) || !RETRYABLE_CODES.has(e.code))
        throw e;
      failed = e;
    }
    if (Date.now() - started > HEALTHY_ROUND_MS) pauses = new Backoff(ROUND_RETRY);
    const now = Date.now();
    const pauseMs = pauses.sent(now) - now;
    if (failed)
      p.logger.warn(
        `round ${round}: [${failed.code}] ${failed.message}; retrying in ${Math.round(pauseMs / 1000)} s`,
      );
    await sleep(pauseMs, p.signal);
    if (p.signal.aborted) throw CliFail.interrupted();
  }
}
