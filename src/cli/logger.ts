import { inspect } from "node:util";
import type { ArgsDef } from "citty";
import type { ConsolaInstance, ConsolaReporter, LogObject } from "consola";
import { formatEndpoint } from "../addr.ts";
import { NetpunchError } from "../errors.ts";
import type { NetpunchEvent } from "../types.ts";
import { AuthFailureLog } from "./auth-log.ts";
import { CliFail } from "./hints.ts";

/** How often pending authentication failures are named and summed up while there are any. */
const AUTH_TICK_MS = 5_000;

/** The level each of consola's log methods prints at (consola's LogLevels): what a filtered call skips. */
const METHOD_LEVELS: Readonly<Record<string, number>> = {
  fatal: 0,
  error: 0,
  warn: 1,
  log: 2,
  info: 3,
  success: 3,
  fail: 3,
  ready: 3,
  start: 3,
  box: 3,
  debug: 4,
  trace: 5,
  verbose: Number.POSITIVE_INFINITY,
};

const loaders = new WeakMap<object, () => void>();

/** A stream that takes every line and shows none: where the warm-up line goes. */
const NOWHERE = { write: () => true } as unknown as NodeJS.WriteStream;

/**
 * All logs go to stderr: stdout carries only the result line that scripts parse. The logger is consola,
 * created when first needed: loading it (with node:tty and the stderr stream) is a good part of a peer's
 * start-up, so a call its level filters out costs nothing, and `preloadLogger` loads it once the first
 * REGISTER is out, while the answer is on its way. Anything else asked of it loads it at once.
 */
export function makeLogger(opts: { quiet?: boolean; verbose?: boolean }): ConsolaInstance {
  const level = opts.quiet ? 1 : opts.verbose ? 4 : 3; // 1: warnings and errors only; 4: debug
  let real: ConsolaInstance | undefined;
  const create = (stream: NodeJS.WriteStream): ConsolaInstance => {
    // Required, not imported: the first log line needs it now, in this turn.
    const { createConsola } = require("consola") as typeof import("consola");
    return createConsola({
      level,
      stdout: stream,
      stderr: stream,
      formatOptions: { date: true, colors: process.stderr.isTTY ?? false, compact: true },
    });
  };
  const load = (): ConsolaInstance => {
    real ??= create(process.stderr);
    return real;
  };
  const preload = () => {
    if (real) return;
    load();
    // One line into nothing: consola's first line pays for its first date (ICU's start, ~6 ms) and more,
    // which would otherwise delay the PINGs behind "partner found".
    create(NOWHERE).warn("");
  };
  const skip = () => {};
  const logger = new Proxy({} as ConsolaInstance, {
    get(_, prop) {
      const methodLevel = typeof prop === "string" ? METHOD_LEVELS[prop] : undefined;
      if (!real && prop === "level") return level;
      if (!real && methodLevel !== undefined && methodLevel > level) return skip;
      const target = load();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
    set(_, prop, value) {
      return Reflect.set(load(), prop, value);
    },
  });
  loaders.set(logger, preload);
  return logger;
}

/** Loads a makeLogger() logger in a later turn of the event loop, and warms it, so its next line costs no load. */
export function preloadLogger(log: ConsolaInstance): void {
  const load = loaders.get(log);
  if (load) setTimeout(load, 0).unref?.();
}

export type LogFormat = "text" | "json";

export const logFormatArgs = {
  "log-format": {
    type: "string",
    valueHint: "text|json",
    default: "text",
    description:
      "text: lines tagged by tunnel, with timestamps when stderr is not a terminal; json: one JSON object per line",
  },
} as const satisfies ArgsDef;

/** The --log-format value, checked. */
export function logFormatOption(value: unknown): LogFormat {
  if (value === undefined || value === "" || value === "text") return "text";
  if (value === "json") return "json";
  throw CliFail.badLogFormat(String(value));
}

/** Where a format logger writes: stderr, or a test's buffer. */
export interface LogStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** consola's many types as the four levels a log reader filters on. */
const LEVEL_OF_TYPE: Readonly<Record<string, string>> = {
  fatal: "error",
  error: "error",
  fail: "error",
  warn: "warn",
  debug: "debug",
  trace: "debug",
  verbose: "debug",
};
const levelOf = (type: string): string => LEVEL_OF_TYPE[type] ?? "info";

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype;

/**
 * A line's words and fields: strings and numbers make the message; a plain object's keys become fields (JSON)
 * or `key=value` words (text); an error becomes its code and message.
 */
function parts(args: readonly unknown[]): { msg: string; fields: Record<string, unknown> } {
  const words: string[] = [];
  const fields: Record<string, unknown> = {};
  for (const a of args) {
    if (a instanceof NetpunchError) {
      fields.error = { code: a.code, message: a.message };
      words.push(`[${a.code}] ${a.message}`);
    } else if (a instanceof Error) {
      fields.error = { message: a.message };
      words.push(a.message);
    } else if (isPlainObject(a)) Object.assign(fields, a);
    else words.push(typeof a === "string" ? a : inspect(a));
  }
  return { msg: words.join(" "), fields };
}

/** One JSON object per line: {time, level, tunnel, msg, ...fields}; the line's own keys win over fields. */
export function jsonReporter(stream: LogStream): ConsolaReporter {
  return {
    log(o: LogObject) {
      const { msg, fields } = parts(o.args);
      const line = {
        ...fields,
        time: o.date.toISOString(),
        level: levelOf(o.type),
        ...(o.tag ? { tunnel: o.tag } : {}),
        msg,
      };
      stream.write(`${JSON.stringify(line)}\n`);
    },
  };
}

/**
 * Lines for a person: `[tunnel] level message key=value`. Timestamps only when the stream is not a terminal
 * (a file, journald, a pipe), where a line is read later; on a terminal the reader sees it happen.
 */
export function textReporter(stream: LogStream): ConsolaReporter {
  return {
    log(o: LogObject) {
      const { msg, fields } = parts(o.args);
      const extra = Object.entries(fields)
        .filter(([k]) => k !== "error")
        .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join("");
      const time = stream.isTTY ? "" : `${o.date.toISOString()} `;
      const tag = o.tag ? `[${o.tag}] ` : "";
      stream.write(`${time}${tag}${levelOf(o.type)} ${msg}${extra}\n`);
    },
  };
}

/**
 * The logger of a long-running command with --log-format (`netpunch up`): consola with one of the reporters
 * above, on stderr. Each tunnel logs through `logger.withTag(name)`, so every line names its tunnel.
 */
export function makeFormatLogger(o: {
  format: LogFormat;
  quiet?: boolean;
  verbose?: boolean;
  stream?: LogStream;
}): ConsolaInstance {
  const { createConsola } = require("consola") as typeof import("consola");
  const stream = o.stream ?? process.stderr;
  return createConsola({
    level: o.quiet ? 1 : o.verbose ? 4 : 3, // as makeLogger: 1 warnings and errors, 3 info, 4 debug
    reporters: [o.format === "json" ? jsonReporter(stream) : textReporter(stream)],
  });
}

/**
 * Turns library events into log lines. Authentication failures are rate-limited (see AuthFailureLog): a
 * forged flood costs a few lines a minute and a summary, and a real peer with a wrong secret is still named.
 */
/** How a server's log line names a session: with its tenant on a multi-tenant server (never its secret). */
const sessionOf = (e: { session: string; tenant?: string }): string =>
  e.tenant === undefined ? `session "${e.session}"` : `tenant ${e.tenant} session "${e.session}"`;

export function eventLogger(log: ConsolaInstance, now: () => number = Date.now): (e: NetpunchEvent) => void {
  const auth = new AuthFailureLog(now());
  let timer: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    for (const line of auth.tick(now())) log.warn(line);
    if (auth.idle()) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const authFailed = (from: string) => {
    const lines = auth.failed(from, now());
    for (const line of lines) log.warn(line);
    // --verbose shows every drop, as for the other reasons; the warnings above are the rate-limited view.
    if (lines.length === 0) log.debug(`dropped a packet from ${from}: bad-auth`);
    if (!auth.idle() && timer === undefined) {
      timer = setInterval(tick, AUTH_TICK_MS);
      timer.unref?.(); // never what keeps netpunch running
    }
  };
  // Warnings that a flood could repeat are logged at most once a minute per key.
  const lastSaid = new Map<string, number>();
  const limited = (key: string, say: () => void) => {
    const t = now();
    if (t - (lastSaid.get(key) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    if (lastSaid.size > 10_000) lastSaid.clear();
    lastSaid.set(key, t);
    say();
  };
  return (e) => {
    switch (e.type) {
      case "listening":
        // The first REGISTER is out in this turn: load the logger while the server's answer travels.
        preloadLogger(log);
        return log.debug(`listening on UDP ${formatEndpoint(e.local)}`);
      case "registered":
        return log.info(
          `registered with the server ${formatEndpoint(e.server)}; it sees us as ${formatEndpoint(e.publicAddr)}`,
        );
      case "waiting":
        return log.info(`waiting for the partner in session "${e.session}" at ${formatEndpoint(e.server)}`);
      case "still-waiting": {
        const min = Math.round(e.waitedMs / 60_000);
        return log.info(`still waiting for role ${e.partnerRole} in session "${e.session}", ${min} min`);
      }
      case "server-left":
        return log.info(`${sessionOf(e)}: peer ${e.role} left before it was paired`);
      case "role-busy":
        return log.warn(
          `role ${e.role} of session "${e.session}" is held by another live peer; waiting until it leaves or goes silent (20 s)`,
        );
      case "partner-lost":
        return log.warn(
          `the partner in session "${e.session}" never answered the server (it left, or its NAT mapping was lost); waiting for it again`,
        );
      case "server-limit":
        return limited(`limit-${e.limit}-${e.tenant ?? ""}`, () =>
          log.warn(
            `${e.tenant === undefined ? "" : `tenant ${e.tenant}: `}${
              e.limit === "sessions"
                ? "session limit reached: refusing new sessions until some end"
                : `per-address session limit reached for ${e.from.host}: refusing its new sessions`
            }`,
          ),
        );
      case "server-silent":
        return log.warn(
          `no answer from the server ${formatEndpoint(e.server)} yet after ${e.tries} tries; still trying`,
        );
      case "server-fallback":
        return log.info(
          `no answer from the server over UDP (${e.why}); registering over the WebSocket ${e.url} instead`,
        );
      case "matched":
        return log.info(
          `partner found; punching ${e.candidates.map((c) => `${formatEndpoint(c)} (${c.kind})`).join(", ")}`,
        );
      case "punch-ok":
        return log.debug(`path to ${formatEndpoint(e.from)} (${e.kind}) works, rtt ${e.rttMs} ms`);
      case "relay":
        if (e.state === "requested") return log.info("no direct path yet; asking the server for a relay");
        if (e.state === "off") return log.warn("the server has no relay to offer (serve --relay)");
        if (e.state === "full") return log.warn("the server's relay is full; no slot for this pair now");
        if (e.state === "limit")
          return log.warn("the server's relay refused: this address already holds its share of relays");
        if (e.state === "binding")
          return log.info(`binding at the relay ${e.relay ? formatEndpoint(e.relay) : ""}`);
        return log.info(`relay ${e.relay ? formatEndpoint(e.relay) : ""} ready`);
      case "nat":
        return log.info(`our NAT: ${e.nat.mapping}${e.nat.step ? ` (step ${e.nat.step})` : ""} mapping`);
      case "strategy":
        return log.info(`strategy ${e.strategy}: ${e.detail}`);
      case "proven":
        return log.debug(`path to ${formatEndpoint(e.remote)} (${e.kind}) proven both ways`);
      case "connected":
        return log.success(
          `connected: ${e.result.laddr} <-> ${e.result.raddr} (${e.result.via}, rtt ${e.result.rttMs} ms)`,
        );
      case "server-registration":
        return log.info(`${sessionOf(e)}: peer ${e.role} registered from ${formatEndpoint(e.from)}`);
      case "server-pair":
        return log.info(`${sessionOf(e)}: paired a=${formatEndpoint(e.a)} b=${formatEndpoint(e.b)}`);
      case "server-paired":
        return log.debug(`${sessionOf(e)}: both peers acknowledged`);
      case "server-gave-up":
        return log.info(`${sessionOf(e)}: a peer never acknowledged its MATCH; dropped the pair`);
      case "server-relay":
        return log.info(
          `relay for ${e.tenant === undefined ? "" : `tenant ${e.tenant} `}pair ${e.pairId.slice(0, 8)} on UDP port ${e.port}`,
        );
      case "server-relay-closed":
        return log.info(`relay for pair ${e.pairId.slice(0, 8)} closed (idle)`);
      case "server-expired":
        return log.info(`${sessionOf(e)}: peer ${e.role} went silent; registration expired`);
      case "dropped": {
        const from = formatEndpoint(e.from);
        if (e.reason === "bad-auth") return authFailed(from);
        if (e.reason === "old-version")
          return limited(`old-${from}`, () =>
            log.warn(
              `${from} speaks netpunch wire version 1 with the right secret; upgrade it (version 1 and 2 cannot talk)`,
            ),
          );
        if (e.reason === "overload")
          return limited("overload", () =>
            log.warn("replay memory full: refusing packets (the server gets more than it can process)"),
          );
        if (e.reason === "stale")
          return log.debug(
            `dropped a packet from ${from}: timestamp outside the window (clocks out of sync?)`,
          );
        return log.debug(`dropped a packet from ${from}: ${e.reason}`);
      }
    }
  };
}
