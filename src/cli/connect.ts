import { defineCommand, type ParsedArgs } from "citty";
import * as v from "valibot";
import { DEFAULT_PEER_TIMINGS } from "../punch/config.ts";
import { udpFirstMs } from "../punch/udp-first.ts";
import { checkArgs, logArgs, loopArgs, optionValues, secondsOption, secretArgs } from "./common.ts";
import { CliFail } from "./hints.ts";
import { makeLogger } from "./logger.ts";
import { readPairKey } from "./pair-key.ts";
import { commandParts, type HookSelection, type PeerRun, runPeer } from "./peer.ts";
import { readPem } from "./pem.ts";
import { resolveSecret } from "./secret.ts";

export const connectArgs = {
  role: {
    type: "string",
    valueHint: "a|b",
    required: true,
    description: "this peer's role; the partner takes the other",
  },
  server: {
    type: "string",
    valueHint: "HOST:PORT",
    description:
      "the rendezvous server; repeatable: registers with every one at once, the first match wins, one that is down costs nothing",
  },
  "server-tcp": {
    type: "string",
    valueHint: "URL",
    description: `the server's WebSocket (ws://HOST:PORT or wss://HOST:PORT), where UDP may be blocked; relayed over it. Alone: WebSocket only. With --server (the same server): UDP first, the WebSocket after ${udpFirstMs(DEFAULT_PEER_TIMINGS) / 1000} s without an answer; with --proxy, UDP is then retried and the tunnel moves to the UDP relay, then direct`,
  },
  "tls-ca": {
    type: "string",
    valueHint: "FILE",
    description: "with a wss:// --server-tcp: trust this CA or self-signed certificate (PEM)",
  },
  local: {
    type: "string",
    valueHint: "[HOST]:PORT",
    default: ":0",
    description: "local UDP address to punch from; the hook binds the same port (:0 picks a free one)",
  },
  session: {
    type: "string",
    default: "default",
    description: "pairs meet by session name, so one server serves many pairs",
  },
  timeout: {
    type: "string",
    valueHint: "SECONDS",
    description: "give up if the partner has not come by then (default: wait forever)",
  },
  "punch-timeout": {
    type: "string",
    valueHint: "SECONDS",
    default: "10",
    description: "give up punching after this long once matched",
  },
  "server-timeout": {
    type: "string",
    valueHint: "SECONDS",
    default: "10",
    description: "fail if no server has answered by then (wrong secret, address or port)",
  },
  relay: {
    type: "boolean",
    default: true,
    description: "fall back on the server's relay when no direct path works",
    negativeDescription: "never use a relay: direct paths only",
  },
  "relay-after": {
    type: "string",
    valueHint: "SECONDS",
    // No citty default: without the option connect() picks 3 s, or 0 with --proxy (the relay at once).
    description:
      "ask for the relay after this long without a direct path (default: 3; with --proxy 0, the relay at once beside the punch)",
  },
  "port-map": {
    type: "boolean",
    description:
      "ask the gateway to forward a public port to --local (PCP, NAT-PMP or UPnP-IGD) and offer it as a candidate",
  },
  proxy: {
    type: "boolean",
    description:
      "keep the punched socket and carry the tunnel's datagrams over it: the hook talks to netpunch on loopback (keepalives, NAT rebinding followed)",
  },
  lan: {
    type: "boolean",
    default: true,
    description: "offer this host's LAN addresses as candidates",
    negativeDescription: "offer only the public address the server sees",
  },
  "pair-key-file": {
    type: "string",
    valueHint: "FILE",
    description:
      "the pair key netpunch pair wrote: the peers' packets and offers are authenticated with it, the secret only admits to the server",
  },
  ...loopArgs,
  ...secretArgs,
  ...logArgs,
} as const;

const Role = v.picklist(["a", "b"]);

/**
 * What connect's options say about the punch, checked: shared by `connect` and by each tunnel of `up`, whose
 * config is turned into the same options (src/cli/config/tunnel.ts).
 */
export function peerOptions(
  args: ParsedArgs<typeof connectArgs>,
  secret: Uint8Array,
  servers: readonly string[],
): Omit<PeerRun, "hooks" | "args" | "rawArgs" | "logger" | "signal"> {
  const role = v.safeParse(Role, args.role);
  if (!role.success) throw CliFail.badRole(args.role);
  const url = args["server-tcp"];
  if (servers.length === 0 && url === undefined) throw CliFail.serverChoice();
  if (args["tls-ca"] !== undefined && url === undefined)
    throw CliFail.tlsOptions("--tls-ca needs --server-tcp");
  const ca = args["tls-ca"] !== undefined ? readPem("tls-ca", args["tls-ca"]) : undefined;
  return {
    ...(url !== undefined ? { serverTcp: { url, ...(ca !== undefined ? { ca } : {}) } } : {}),
    role: role.output,
    servers,
    local: String(args.local),
    secret,
    ...(args["pair-key-file"] !== undefined ? { pairKey: readPairKey(args["pair-key-file"]) } : {}),
    session: String(args.session),
    timeoutMs: secondsOption(args.timeout, "timeout"),
    punchMs: secondsOption(args["punch-timeout"], "punch-timeout"),
    serverSilentMs: secondsOption(args["server-timeout"], "server-timeout"),
    lan: args.lan !== false,
    relay: args.relay !== false,
    portMap: args["port-map"] === true,
    proxy: args.proxy === true,
    relayAfterMs: secondsOption(args["relay-after"], "relay-after"),
    loop: args.loop === true,
  };
}

/** `netpunch connect`, with the options of the hooks its command line selected. */
export const connectCommand = (selected: HookSelection, signal: AbortSignal) =>
  defineCommand({
    meta: {
      name: "connect",
      description: "meet the partner through the server, punch a direct UDP path, run the hooks",
    },
    args: { ...connectArgs, ...selected.args },
    async run({ args, rawArgs }) {
      const defs = { ...connectArgs, ...selected.args };
      checkArgs(rawArgs, defs, { repeatable: ["server"] }); // several servers, raced
      const logger = makeLogger({ quiet: args.quiet, verbose: args.verbose });
      await runPeer({
        ...peerOptions(
          args,
          resolveSecret({ secret: args.secret, secretFile: args["secret-file"], logger }),
          optionValues(rawArgs, defs, "server"),
        ),
        ...commandParts(selected, args, rawArgs, logger, signal),
      });
    },
  });
