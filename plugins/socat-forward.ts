import { isIP } from "node:net";
import * as v from "valibot";
import {
  defineHook,
  drainPunchedPort,
  MAX_SECONDS,
  missingProgram,
  type PunchResult,
  parseAddress,
  resultEnv,
  runChild,
} from "../src/hooks/index.ts";

export interface SocatOptions {
  bin: string;
  /** Send what the peer sends to this local service (the side that exposes it). */
  forwardTo?: { host: string; port: number };
  /** Accept a local client here and send its datagrams to the peer. */
  forwardListen?: { host: string; port: number };
  idleSeconds?: number;
}

const fam = (host: string) => (isIP(host) === 6 ? "6" : "4");
const hostPart = (host: string) => (isIP(host) === 6 ? `[${host}]` : host);

/**
 * The socat command line. The peer side is a datagram socket bound to LPORT (the punched port) that talks
 * only to RHOST:RPORT and accepts only datagrams from RHOST (range=), so other hosts cannot inject traffic
 * through the hole. No sourceport=: on UDP-DATAGRAM socat 1.7.4 (Debian 12) then refuses every datagram. Pure.
 */
export function socatArgv(r: PunchResult, o: SocatOptions): string[] {
  const f = fam(r.rhost);
  const bindHost = r.lhost === "0.0.0.0" || r.lhost === "::" || r.lhost === "" ? "" : hostPart(r.lhost);
  const range = f === "6" ? `[${r.rhost}]/128` : `${r.rhost}/32`;
  const peer = `UDP${f}-DATAGRAM:${hostPart(r.rhost)}:${r.rport},bind=${bindHost}:${r.lport},range=${range}`;
  let local: string;
  if (o.forwardTo) local = `UDP${fam(o.forwardTo.host)}:${hostPart(o.forwardTo.host)}:${o.forwardTo.port}`;
  else if (o.forwardListen) {
    local = `UDP${fam(o.forwardListen.host)}-LISTEN:${o.forwardListen.port},bind=${hostPart(o.forwardListen.host)}`;
  } else throw new Error("socatArgv: one of forwardTo or forwardListen is required");
  const idle = o.idleSeconds !== undefined ? ["-T", String(o.idleSeconds)] : [];
  return [o.bin, ...idle, peer, local];
}

/** A HOST:PORT option, checked before any packet and handed to run as { host, port }. */
const address = (what: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.check(
        (s) => {
          try {
            parseAddress(s, what);
            return true;
          } catch {
            return false;
          }
        },
        (i) => `"${String(i.input)}" is not HOST:PORT (e.g. 127.0.0.1:53)`,
      ),
      v.transform((s) => {
        const a = parseAddress(s, what);
        return { host: a.host, port: a.port };
      }),
    ),
  );

export default defineHook({
  name: "socat-forward",
  description:
    "forward UDP through the hole with socat: expose a local service to the peer, or reach the peer's",
  args: {
    "forward-to": {
      type: "string",
      valueHint: "HOST:PORT",
      description: "send what the peer sends to this local UDP service",
    },
    "forward-listen": {
      type: "string",
      valueHint: "HOST:PORT",
      description: "accept a local UDP client here and send its datagrams to the peer",
    },
    "forward-idle": {
      type: "string",
      valueHint: "SECONDS",
      description: "end the forwarder after this long without traffic (then --loop re-punches)",
    },
    "socat-bin": { type: "string", valueHint: "PATH", default: "socat", description: "the socat program" },
  },
  check: v.object({
    "forward-to": address("--forward-to"),
    "forward-listen": address("--forward-listen"),
    "forward-idle": v.optional(
      v.pipe(
        v.string(),
        v.transform(Number),
        v.number("a number of seconds"),
        v.minValue(1),
        v.maxValue(MAX_SECONDS, `is more than ${MAX_SECONDS} seconds (24 days)`),
      ),
    ),
  }),
  preflight({ args }) {
    const to = args["forward-to"] !== undefined;
    const listen = args["forward-listen"] !== undefined;
    if (to === listen)
      return "give exactly one of --forward-to HOST:PORT (expose a service) or --forward-listen HOST:PORT (reach the peer's)";
    return missingProgram(args["socat-bin"], "socat");
  },
  async run(result, { options, logger, signal }) {
    const argv = socatArgv(result, {
      bin: options["socat-bin"],
      forwardTo: options["forward-to"],
      forwardListen: options["forward-listen"],
      idleSeconds: options["forward-idle"],
    });
    // socat forwards whatever reaches the port, so the partner's last punching packets go first.
    const drained = await drainPunchedPort(result, signal);
    logger.debug(
      `dropped ${drained.netpunch} late netpunch packet(s) in ${drained.ms} ms before starting socat${drained.partnerData ? " (ended by the partner's first datagram, which is lost)" : ""}`,
    );
    if (signal.aborted) return;
    const exit = await runChild({ argv, env: resultEnv(result), logger, prefix: "[socat]", signal });
    if (!exit.stopped && exit.code !== 0)
      throw new Error(`socat exited with code ${exit.code ?? exit.signal}`);
  },
});
