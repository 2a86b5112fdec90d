import { existsSync } from "node:fs";
import { type ParsedArgs, parseArgs } from "citty";
import type { ConsolaInstance } from "consola";
import { builtinHooks } from "../../plugins/index.ts";
import { formatEndpoint } from "../addr.ts";
import { NetpunchError } from "../errors.ts";
import { checkPartnerOffer, makeOffer, type Offering, runHooks } from "../hooks/lifecycle.ts";
import { type AnyHook, passthroughArgs } from "../hooks/load.ts";
import { pinnedFingerprint } from "../hooks/pins.ts";
import { checkHookOptions } from "../hooks/run.ts";
import { tunnelId } from "../hooks/state-dir.ts";
import type { PortMapping } from "../portmap/index.ts";
import type { RunningProxy } from "../proxy/driver.ts";
import { connect, type PunchedSocket } from "../punch/connect.ts";
import type { Endpoint, PunchResult } from "../types.ts";
import type { ProxyStatus, SupervisedTunnel } from "../up/supervise-all.ts";
import type { TunnelConfig, UpConfig } from "./config/types.ts";
import { connectArgs, peerOptions } from "./connect.ts";
import { CliFail, cliHint } from "./hints.ts";
import { eventLogger } from "./logger.ts";
import { pairKeyFile } from "./pair-key.ts";
import {
  askGateway,
  checkPeerAddresses,
  type PeerRun,
  punchOptions,
  runProxied,
  selectHooks,
} from "./peer.ts";

/** One tunnel of `up`, ready to supervise; `close` undoes what its start did (a gateway's port mapping). */
export interface PreparedTunnel {
  supervised: SupervisedTunnel;
  /** The network interfaces the tunnel's programs make: their addresses are not the host's changing. */
  interfaces: string[];
  close(): Promise<void>;
}

/**
 * Makes a tunnel of the config into what the supervisor runs, from the same pieces as `connect`: its table is
 * a connect command line (config/tunnel.ts), parsed by connect's own options and its hook's, checked before
 * any packet (a bad option or a missing program fails `up` at once, as it fails `connect`). Each round makes
 * the hook's offer (its keys, on first use), punches with it, checks and pins the partner's offer, then runs
 * the hooks until the tunnel ends.
 */
export async function prepareTunnel(
  config: UpConfig,
  t: TunnelConfig,
  logger: ConsolaInstance,
  signal: AbortSignal,
): Promise<PreparedTunnel> {
  const selected = await selectHooks(t.argv, connectArgs, { builtins: builtinHooks });
  const id = tunnelId(config.name, t.name);
  const argv = [...zeroConfigArgs(t, selected.hooks), ...pairKeyArgs(t, config.stateDir, id), ...t.argv];
  const defs = { ...connectArgs, ...selected.args };
  // The tunnel's servers (one or more, or none beside a --server-tcp in argv) are given to peerOptions below.
  const server = t.servers[0] !== undefined ? ["--server", t.servers[0]] : [];
  const args = parseArgs([...server, ...argv], defs) as ParsedArgs<typeof connectArgs>;
  const run: PeerRun = {
    ...peerOptions(args, config.secret, t.servers),
    hooks: selected.hooks,
    args,
    rawArgs: argv,
    logger,
    signal,
  };
  const hooks = checkHookOptions(selected.hooks, args as unknown as ParsedArgs, passthroughArgs(argv));
  // The exec hook's exec-replace would end up's process, and the proxy with it.
  if (run.proxy && (args as unknown as ParsedArgs)["exec-replace"] === true) throw CliFail.proxyReplaced();
  checkPeerAddresses(run);
  const place = { logger, stateDir: config.stateDir, tunnel: id };
  let mapping: PortMapping | undefined;
  let local = run.local;
  if (run.portMap) ({ mapping, local } = await askGateway(run));
  const peer: PeerRun & { mapped?: Endpoint } = { ...run, local, mapped: mapping?.external };
  const events = eventLogger(logger);
  let offering: Offering | undefined;
  // Proxy mode: the socket the last round kept, taken by its tunnel.
  let punched: PunchedSocket | undefined;
  // Proxy mode: the running proxy, read live by the status row.
  let proxy: RunningProxy | undefined;
  return {
    interfaces: [t.interface],
    close: async () => {
      await mapping?.remove();
    },
    supervised: {
      name: t.name,
      session: t.session,
      role: t.role,
      partnerKey: () => pinnedFingerprint(config.stateDir, id),
      proxy: () => proxy && proxyStatus(proxy),
      job: {
        async punch(roundSignal, onEvent) {
          offering = await makeOffer(hooks, { ...place, signal: roundSignal }).catch(withCliHint);
          punched = undefined;
          return connect({
            ...punchOptions(peer),
            ...(offering ? { offer: offering.bytes } : {}),
            ...(peer.proxy
              ? {
                  keepSocket: (s: PunchedSocket) => {
                    punched = s;
                  },
                }
              : {}),
            signal: roundSignal,
            onEvent: (e) => {
              events(e);
              onEvent(e);
            },
          }).catch(withCliHint);
        },
        async tunnel(result, roundSignal) {
          try {
            const kept = punched;
            punched = undefined;
            try {
              checkPartnerOffer(offering, result, place);
            } catch (e) {
              kept?.transport.close();
              throw e;
            }
            const run = (r: PunchResult) => runHooks(hooks, r, { ...place, signal: roundSignal });
            await (kept
              ? runProxied(kept, result, run, {
                  logger,
                  onProxy: (p) => {
                    proxy = p;
                  },
                })
              : run(result));
          } catch (e) {
            withCliHint(e);
          }
          return roundSignal.aborted ? "stopped" : `${hooks.map((h) => h.hook.name).join(", ")} ended`;
        },
      },
    },
  };
}

/** The proxy's counts as of now, for the status row (keepalives and replays stay the proxy's own). */
function proxyStatus(p: RunningProxy): ProxyStatus {
  const c = p.counters;
  return {
    packetsIn: c.packetsIn,
    packetsOut: c.packetsOut,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    moves: c.moves,
    remote: formatEndpoint(p.remote),
    path: p.path,
    switches: p.switches,
    ...(p.lastSwitch ? { lastSwitch: { ...p.lastSwitch } } : {}),
    relayReady: p.relayReady,
    ...(p.websocket ? { websocket: true } : {}),
  };
}

/** Rethrows a NetpunchError with the CLI's hint (which may name a command) in place of the library's. */
function withCliHint(e: unknown): never {
  if (!(e instanceof NetpunchError)) throw e;
  const hint = cliHint(e);
  if (!hint) throw e;
  throw new NetpunchError(e.code, e.message, hint, { cause: e, detail: e.detail });
}

/**
 * The pair key `netpunch pair` left for the tunnel in the state directory, as --pair-key-file, unless the
 * table names one (pair_key_file): a paired tunnel's peer packets and offers are then the pair's alone.
 */
function pairKeyArgs(t: TunnelConfig, stateDir: string, id: string): string[] {
  if (t.argv.some((a) => a === "--pair-key-file" || a.startsWith("--pair-key-file="))) return [];
  const file = pairKeyFile(stateDir, id);
  return existsSync(file) ? ["--pair-key-file", file] : [];
}

/**
 * The tunnel's `interface` and `address` as its hook's own options, for the hooks that take them (their
 * `tunnelOptions`: the zero-config WireGuard and OpenVPN), unless the table set those options itself.
 */
function zeroConfigArgs(t: TunnelConfig, hooks: readonly AnyHook[]): string[] {
  const given = (opt: string) => t.argv.some((a) => a === `--${opt}` || a.startsWith(`--${opt}=`));
  const out: string[] = [];
  for (const { tunnelOptions: names } of hooks) {
    if (names?.interface && !given(names.interface)) out.push(`--${names.interface}`, t.interface);
    if (names?.address && t.address !== undefined && !given(names.address))
      out.push(`--${names.address}`, t.address);
  }
  return out;
}
