import type { Endpoint, Role } from "./types.ts";

/** Every failure netpunch reports: a stable code, one line of message, one line of hint. */
export type ErrorCode =
  | "E_USAGE" // bad command line or option value (exit 2)
  | "E_ADDRESS" // a malformed host:port (exit 2)
  | "E_SECRET" // missing or unreadable secret (exit 2)
  | "E_TENANTS" // a multi-tenant server's tenant list (serve --secrets-file) is not valid (exit 2)
  | "E_PORT_IN_USE" // bind failed (exit 1)
  | "E_BIND" // other socket errors (exit 1)
  | "E_RESOLVE" // server host name did not resolve (exit 1)
  | "E_SERVER_SILENT" // no authenticated answer from the rendezvous server (exit 1)
  | "E_SERVER_FULL" // the server refused one more session: its limit, or its limit per address (exit 1)
  | "E_TIMEOUT" // the partner did not show up within --timeout (exit 1)
  | "E_STUN_REFUSED" // a STUN server answered, but with an error or without a mapped address (exit 1)
  | "E_NO_ALT_PORT" // doctor needs the server's second port for NAT probing, and it has none (exit 2)
  | "E_PUNCH_FAILED" // matched, but no direct path was proven (exit 1)
  | "E_HOOK" // a hook failed or is unknown (exit 1, or 2 when unknown)
  | "E_NOT_RUNNING" // status: no `netpunch up` answers on the status socket (exit 1)
  | "E_OFFER" // the partner's zero-config offer is missing, malformed, or of another hook or version (exit 1)
  | "E_MODE_MISMATCH" // one peer of a pair runs proxy mode and the other does not (exit 1)
  | "E_PIN_MISMATCH" // the partner offered another key than the one pinned for this tunnel (exit 1)
  | "E_STATE" // the state directory (keys, pins) cannot be read or written (exit 1)
  | "E_CODE" // pair: a pairing code that is not NUMBER-WORD-WORD from the word list (exit 2)
  | "E_PAIR" // pair: the code was wrong, expired or spent, or the pairing was tampered with (exit 1)
  | "E_STORE" // the shared rendezvous store (Redis) cannot be reached or refused an operation (exit 1)
  | "E_ABORTED" // the caller's AbortSignal fired
  | "E_INTERNAL"; // a bug: printed by the CLI with the stack for a report (exit 1)

// E_NO_ALT_PORT: the server asked for cannot do what was asked, like a bad argument (exit 2 since 0.1).
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  "E_USAGE",
  "E_ADDRESS",
  "E_SECRET",
  "E_TENANTS",
  "E_NO_ALT_PORT",
  "E_CODE",
]);

/** Thrown for every expected failure; `hint` says what the user can do about it. */
export class NetpunchError extends Error {
  override readonly name = "NetpunchError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  /** Facts a front end may use to word its own hint (the CLI names its flags; the library never does). */
  readonly detail: Readonly<Record<string, string | number | boolean>>;

  constructor(
    code: ErrorCode,
    message: string,
    hint?: string,
    options?: { cause?: unknown; detail?: Record<string, string | number | boolean> },
  ) {
    super(message, options);
    this.code = code;
    this.hint = hint;
    this.detail = options?.detail ?? {};
  }

  /** 2 for bad usage or input, 1 for everything that went wrong at run time. */
  get exitCode(): number {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }
}

export const isNetpunchError = (e: unknown): e is NetpunchError => e instanceof NetpunchError;

const at = (e: Endpoint): string => (e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/**
 * The library's failures, one factory each, with all their text here. Hints speak of what to do, not of
 * command-line flags: the CLI words its own from `detail` (src/cli/hints.ts).
 */
/**
 * What E_PUNCH_FAILED adds about the relay fallback: the server's refusal, a relay that did not complete, or
 * nothing when none was asked for. The operator's side is named as the server's command line has it.
 */
export function punchFailureNote(relay: "off" | "full" | "limit" | "incomplete" | undefined): string {
  switch (relay) {
    case "off":
      return "; the server has no relay to fall back on (start it with serve --relay)";
    case "full":
      return "; the server's relay is on but every slot is taken (try again later, or raise serve --relay-max-sessions)";
    case "limit":
      return "; the server's relay refused this peer: its address already holds its share of relays";
    case "incomplete":
      return "; the relay fallback did not complete either";
    default:
      return "";
  }
}

export const Fail = {
  serverSilent(server: Endpoint, tries: number, seconds: number): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `no authenticated answer from the rendezvous server ${at(server)} after ${tries} tries (${seconds} s)`,
      `check that the secret is the same here and on the server, that the server address is right and runs netpunch, and that UDP port ${server.port} is open on the server`,
    );
  },
  /** Every one of several servers stayed silent (each was tried as often as the others, at the same times). */
  serversSilent(servers: readonly Endpoint[], tries: number, seconds: number): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `no authenticated answer from any of the rendezvous servers ${servers.map(at).join(", ")} after ${tries} tries each (${seconds} s)`,
      "check that the secret is the same here and on the servers, that the server addresses are right and run netpunch, and that their UDP ports are open",
    );
  },
  noServer(): NetpunchError {
    return new NetpunchError("E_ADDRESS", "no rendezvous server given", "give at least one server address");
  },
  serverPortClosed(server: Endpoint): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `the server host ${server.host} answered that nothing listens on UDP port ${server.port} (ICMP port unreachable)`,
      `start netpunch serve there on port ${server.port}, or fix the port in the server address`,
    );
  },
  partnerTimeout(partnerRole: string, session: string, seconds: number): NetpunchError {
    return new NetpunchError(
      "E_TIMEOUT",
      `no partner (role ${partnerRole}) joined session "${session}" within ${seconds} s`,
      `start the partner with role ${partnerRole} in the same session, with the same server and secret, or wait longer`,
      { detail: { partnerRole } },
    );
  },
  punchFailed(o: { heard: boolean; seconds: number; tried: string; note: string }): NetpunchError {
    return o.heard
      ? new NetpunchError(
          "E_PUNCH_FAILED",
          `packets from the partner arrived, but no path was proven both ways within ${o.seconds} s (tried ${o.tried})${o.note}`,
          "a firewall may let UDP through in one direction only, or the partner stopped mid-punch; run netpunch doctor on both sides, or use a server with a relay",
          { detail: { heard: true } },
        )
      : new NetpunchError(
          "E_PUNCH_FAILED",
          `no packet from the partner arrived within ${o.seconds} s (tried ${o.tried})${o.note}`,
          "the partner may have stopped, both NATs may allocate a new port per destination (symmetric NAT), or a firewall drops UDP between the peers; run netpunch doctor on both sides, use a server with a relay, or run one peer on a public address",
          { detail: { heard: false } },
        );
  },
  serverFull(server: Endpoint, scope: "server" | "address"): NetpunchError {
    return scope === "server"
      ? new NetpunchError(
          "E_SERVER_FULL",
          `the rendezvous server ${at(server)} holds as many sessions as it may and refused this one`,
          "try again later or use another server; its operator can raise the session limit",
        )
      : new NetpunchError(
          "E_SERVER_FULL",
          `the rendezvous server ${at(server)} holds as many sessions from this address as one address may`,
          "stop other netpunch peers behind this public address, or ask the server's operator to raise the per-address limit",
        );
  },
  /**
   * The MATCH says the partner's mode differs from ours: one peer would carry the tunnel as DATA, the other
   * hand its socket to the tunnel, and each tunnel would get the other's packets as garbage. Both peers get
   * this before any tunnel starts. `detail.proxy`: whether this peer runs proxy mode.
   */
  modeMismatch(session: string, role: Role, proxy: boolean): NetpunchError {
    const partner = role === "a" ? "b" : "a";
    const who = proxy
      ? `this peer (role ${role}) runs proxy mode and its partner (role ${partner}) does not`
      : `the partner (role ${partner}) runs proxy mode and this peer (role ${role}) does not`;
    return new NetpunchError(
      "E_MODE_MISMATCH",
      `session "${session}": ${who}; their tunnels could not understand each other, so none was started`,
      "run both peers of the session in proxy mode, or neither",
      { detail: { proxy, partnerRole: partner } },
    );
  },
  /** An offer (a hook's bytes for the partner) that cannot travel: empty, too large, or not bytes. */
  badOffer(bytes: number | undefined, max: number): NetpunchError {
    const what = bytes === undefined ? "not a Uint8Array" : `${bytes} bytes`;
    return new NetpunchError(
      "E_USAGE",
      `the offer for the partner is ${what}; an offer is 1 to ${max} bytes`,
      `keep what is offered to ${max} bytes: a public key, a tunnel address, a fingerprint`,
      { detail: { bytes: bytes ?? -1, max } },
    );
  },
  badPairKey(bytes: number | undefined, want: number): NetpunchError {
    const what = bytes === undefined ? "not a Uint8Array" : `${bytes} bytes`;
    return new NetpunchError(
      "E_USAGE",
      `the pair key is ${what}; a pair key is ${want} bytes`,
      "pass the pair key as netpunch pair wrote it (its file holds the bytes in base64)",
      { detail: { bytes: bytes ?? -1, want } },
    );
  },
  offerForged(session: string): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `session ${session}: the partner's offer does not carry the pair key's MAC; refusing it`,
      "someone holding the server's secret (its operator, another user of the server) may have changed it on the way; or the partner's pair key is another (pair the two hosts again)",
      { detail: { session } },
    );
  },
  badSession(session: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `session name "${session}" is invalid: ${why}`,
      "use 1-64 letters, digits and . _ @ : + -",
    );
  },
  /** `what` names the argument, because "invalid address" alone does not tell which of three was wrong. */
  badAddress(what: string, input: string, why: string, hint: string): NetpunchError {
    return new NetpunchError("E_ADDRESS", `${what} "${input}" is not a valid address: ${why}`, hint);
  },
  /** The relay host other servers' peers are told (serve({ relay: { host } })): one IP address, not a wildcard. */
  badRelayHost(input: string): NetpunchError {
    return Fail.badAddress(
      "relay host",
      input,
      "it is not one IP address",
      "give the address peers reach this server's relays at (its public address behind a NAT)",
    );
  },
  /** A WebSocket server's URL (ws:// or wss://) that cannot be one. */
  badServerUrl(input: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_ADDRESS",
      `server URL "${input}" is not usable: ${why}`,
      "give ws://HOST:PORT or wss://HOST:PORT, e.g. wss://203.0.113.7:443",
    );
  },
  /** The WebSocket to the server did not open (refused, TLS not trusted, not a WebSocket server). */
  wsUnreachable(url: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `no WebSocket to the server at ${url}: ${why}`,
      "check that the server runs with a TCP listener on that port, and for wss:// that its certificate is trusted (a CA file for a self-signed one)",
    );
  },
  familyMismatch(local: string, server: string, l: 4 | 6, s: 4 | 6, port: number): NetpunchError {
    return new NetpunchError(
      "E_ADDRESS",
      `local address ${local} is IPv${l} but the server ${server} is IPv${s}: no packet could reach it`,
      s === 4
        ? `use an IPv4 local address (e.g. :${port} or 0.0.0.0:${port}), or the server's IPv6 address`
        : `use an IPv6 local address (e.g. :${port} or [::]:${port}), or the server's IPv4 address`,
    );
  },
  portInUse(port: number, where: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_PORT_IN_USE",
      `UDP port ${port} is already in use (${where})`,
      `stop what holds it (ss -ulpn 'sport = :${port}') or choose another local port`,
      { cause },
    );
  },
  bindDenied(where: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_BIND",
      `not allowed to bind UDP ${where}`,
      "ports below 1024 need root or CAP_NET_BIND_SERVICE",
      { cause },
    );
  },
  /** The metrics and health listener (serve/up --metrics) could not listen. */
  metricsListen(where: string, why: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_BIND",
      `cannot listen for metrics on TCP ${where}: ${why}`,
      "choose a free TCP port on an address of this host",
      { cause },
    );
  },
  bindFailed(where: string, why: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_BIND",
      `cannot bind UDP ${where}: ${why}`,
      "check that the local address belongs to this host",
      { cause },
    );
  },
  unresolved(host: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_RESOLVE",
      `cannot resolve the server host "${host}"`,
      "check the spelling and this host's DNS, or give the server's IP address",
      { cause },
    );
  },
  stunRefused(where: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_STUN_REFUSED",
      `the STUN server ${where} ${why}`,
      "use another STUN server; this one does not answer a plain Binding request as RFC 8489 says",
    );
  },
  stunUnsendable(where: string): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `could not send a single STUN request to ${where}`,
      "bind a local address of the server's family (an IPv4 socket cannot reach an IPv6 server)",
    );
  },
  stunPortClosed(server: Endpoint): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `the STUN server host ${server.host} answered that nothing listens on UDP port ${server.port} (ICMP port unreachable)`,
      "start a STUN server there or fix the port (3478 is the usual STUN port)",
    );
  },
  stunSilent(where: string, port: number, tries: number, seconds: number): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `no answer from the STUN server ${where} after ${tries} ${tries === 1 ? "try" : "tries"} (${seconds} s)`,
      `check the address, that UDP port ${port} is open there and that it runs a STUN server (a netpunch server answers STUN only when its responder is turned on)`,
    );
  },
  noAltPort(server: Endpoint): NetpunchError {
    return new NetpunchError(
      "E_NO_ALT_PORT",
      `the server ${at(server)} has no second port for NAT probing`,
      "start the server with a second UDP port for NAT probing, and open that port too",
    );
  },
  /** The doctor's probes got no authenticated answer from the server's main port. */
  doctorUnanswered(where: string): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `no authenticated answer from the server ${where}`,
      "check the secret, the address, and that the server's UDP port is open",
    );
  },
  altPortSilent(altPort: number): NetpunchError {
    return new NetpunchError(
      "E_SERVER_SILENT",
      `the server's alt port ${altPort} did not answer`,
      `open UDP port ${altPort} on the server as well`,
    );
  },
  notPositive(name: string, value: number): NetpunchError {
    return new NetpunchError("E_USAGE", `${name} must be a positive number, not ${value}`);
  },
  aborted(what: string): NetpunchError {
    return new NetpunchError("E_ABORTED", "cancelled", `the AbortSignal passed to ${what} fired`);
  },

  // Hooks: loading them, their options, their children. `detail.reason` lets the CLI word its own hint.
  hookFileMissing(file: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hook file ${file} does not exist`,
      "give the path of a .ts or .js file that exports a hook",
    );
  },
  unknownHook(spec: string, builtins: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `unknown hook "${spec}"`,
      `built-in hooks: ${builtins.join(", ")}; or a path to a hook file, or an installed package netpunch-plugin-${spec}`,
    );
  },
  hookNotLoaded(spec: string, path: string, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `cannot load hook "${spec}" from ${path}: ${(cause as Error).message}`,
      "run it with bun directly to see the full error",
      { cause },
    );
  },
  notAHook(spec: string, path: string, where: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hook "${spec}" (${path}) does not export a plugin: ${where}: ${why}`,
      "export default defineHook({ name, description, args, run }) from the module",
    );
  },
  // A hook's options are options of the command line, so these messages name them as such (--name).
  hookOptionTwice(first: string, second: string, option: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hooks "${first}" and "${second}" both define --${option}`,
      "use one of them per command line",
    );
  },
  hookOptionReserved(hook: string, option: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hook "${hook}" defines --${option}, which netpunch itself uses`,
      "rename the hook's option",
    );
  },
  hookRefused(hook: string, problem: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${hook} hook: ${problem}`,
      `see netpunch hooks for the ${hook} hook's options`,
    );
  },
  hookOptionInvalid(hook: string, option: string | undefined, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${option !== undefined ? `--${option}` : `the ${hook} hook's options`}: ${why}`,
      `see netpunch hooks for the ${hook} hook's options`,
    );
  },
  passthroughTwice(hooks: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hooks ${hooks.map((h) => `"${h}"`).join(" and ")} both take the arguments after --`,
      "use one of them per command line",
    );
  },
  passthroughUnused(extraArgs: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `arguments after -- (${extraArgs.join(" ")}) but no selected hook takes them`,
      "the openvpn and exec hooks take arguments after --",
    );
  },
  hookFailed(hook: string, phase: string, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `hook "${hook}" ${phase}: ${(cause as Error)?.message ?? String(cause)}`,
      "the hook's log lines at debug level say more",
      { cause, detail: { reason: "hook-failed" } },
    );
  },
  /** Several hooks failed: one error whose message lists them all. */
  hooksFailed(errors: readonly Error[]): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      errors
        .map((e) =>
          e instanceof NetpunchError && e.code !== "E_HOOK" ? `[${e.code}] ${e.message}` : e.message,
        )
        .join("; "),
      "each hook's failure is listed; the hooks' log lines at debug level say more",
      { cause: new AggregateError(errors), detail: { reason: "hooks-failed" } },
    );
  },
  /** `verb`: what netpunch refused to do with the program, "start" (a child) or "run" (execve). */
  secretOnCommandLine(program: string | undefined, verb: "start" | "run"): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `refusing to ${verb} ${program}: its command line contains the secret`,
      verb === "start"
        ? "command lines are visible to every local user (ps); pass secrets to the tunnel in a file"
        : "command lines are visible to every local user (ps); pass secrets in a file",
    );
  },
  childNotStarted(program: string | undefined, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `cannot start ${program}: ${(cause as Error).message}`,
      "check the program's path",
    );
  },
  commandNotFound(command: string | undefined): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `${command ?? "(no command)"} not found in PATH`,
      "check the command's name, or give its path",
      { detail: { reason: "command-not-found" } },
    );
  },
  noExecve(): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      "this runtime has no process.execve",
      "run netpunch on Bun 1.4 or a release binary, or run the command as a child instead of replacing netpunch",
      { detail: { reason: "no-execve" } },
    );
  },
  execveFailed(path: string, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_HOOK",
      `execve ${path} failed: ${(cause as Error).message}`,
      "check the program",
      {
        cause,
      },
    );
  },
  execveReturned(path: string): NetpunchError {
    return new NetpunchError("E_HOOK", `execve ${path} returned`, "this is a bug");
  },

  // Config files (netpunch up). Every message starts with the file, then the table and key when there is one;
  // no message carries a value from the file, which may be a misplaced secret.
  configNotFound(spec: string, looked: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `no config "${spec}": looked at ${looked.join(", ")}`,
      "write the file in one of those places (packaging/home.toml.example is a start), or give its path",
      { detail: { reason: "config-not-found" } },
    );
  },
  configBadName(spec: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `config name "${spec}" is invalid: ${why}`,
      "a config's name (its file name without .toml) names its status socket and state: letters, digits and . _ - only",
    );
  },
  configUnreadable(file: string, why: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${file}: cannot read it: ${why}`,
      "check the path and that this user may read it",
      {
        cause,
      },
    );
  },
  configSyntax(file: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${file}: not valid TOML: ${why}`,
      "see https://toml.io for the syntax",
    );
  },
  /** `table` is "tunnel.NAME" or undefined for the top level; `key` the key in it, if the problem is one key's. */
  configInvalid(
    file: string,
    table: string | undefined,
    key: string | undefined,
    why: string,
    hint?: string,
  ): NetpunchError {
    const where = [table !== undefined ? `[${table}]` : undefined, key]
      .filter((w) => w !== undefined)
      .join(" ");
    return new NetpunchError("E_USAGE", `${file}: ${where}: ${why}`, hint, {
      detail: { file, ...(table !== undefined ? { table } : {}), ...(key !== undefined ? { key } : {}) },
    });
  },
  /** A failure met while checking one key (reading the secret file, loading the hook), placed in the file. */
  configPlaced(file: string, table: string | undefined, key: string, inner: NetpunchError): NetpunchError {
    const where = table !== undefined ? `[${table}] ${key}` : key;
    return new NetpunchError(inner.code, `${file}: ${where}: ${inner.message}`, inner.hint, {
      cause: inner,
      detail: { file, ...(table !== undefined ? { table } : {}), key },
    });
  },
  statusSocketBusy(path: string, live: boolean): NetpunchError {
    return live
      ? new NetpunchError(
          "E_BIND",
          `another process already answers on the status socket ${path}`,
          "this config already runs; stop that process first, or give this one another config name or runtime directory",
        )
      : new NetpunchError(
          "E_BIND",
          `${path} exists and is not a socket`,
          "remove it, or use another runtime directory",
        );
  },
  statusListen(path: string, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_BIND",
      `cannot listen on the status socket ${path}: ${(cause as Error)?.message ?? String(cause)}`,
      "check that the runtime directory is a directory this user may write to",
      { cause },
    );
  },
  notRunning(where: string): NetpunchError {
    return new NetpunchError(
      "E_NOT_RUNNING",
      `no running netpunch up answers at ${where}`,
      "start it (netpunch up CONFIG, or systemctl start netpunch-up@CONFIG), or look in the runtime directory it uses",
    );
  },
  badStatusReply(path: string): NetpunchError {
    return new NetpunchError(
      "E_NOT_RUNNING",
      `the process on ${path} did not answer with a status document of this version`,
      "it may be another netpunch version; run the status command of the netpunch that runs it",
    );
  },
  // Zero-config keys (src/hooks/offer.ts, pins.ts, state-dir.ts). `detail.tunnel` lets the CLI name its command.
  offerMissing(hook: string, tunnel: string): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `tunnel ${tunnel}: the partner sent no ${hook} offer (its key and tunnel address)`,
      `run a netpunch of this version on the partner, with the ${hook} hook in its zero-config mode too`,
      { detail: { tunnel } },
    );
  },
  offerMalformed(hook: string, tunnel: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `tunnel ${tunnel}: the partner's ${hook} offer is malformed: ${why}`,
      "the partner runs a netpunch that speaks another offer format, or a broken one; upgrade both to one version",
      { detail: { tunnel } },
    );
  },
  offerOtherHook(hook: string, tunnel: string, theirs: string): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `tunnel ${tunnel}: the partner offered for the ${theirs} hook, this side runs ${hook}`,
      "give both sides of the tunnel the same hook",
      { detail: { tunnel } },
    );
  },
  offerOtherVersion(hook: string, tunnel: string, theirs: number, ours: number): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `tunnel ${tunnel}: the partner's ${hook} offer is version ${theirs}, this side reads version ${ours}`,
      "run the same netpunch version on both sides",
      { detail: { tunnel } },
    );
  },
  /** `start`: the first connection failed, and the server does not start; `later`: it retries by itself. */
  storeDown(where: string, why: string, cause?: unknown, when: "start" | "later" = "later"): NetpunchError {
    return new NetpunchError(
      "E_STORE",
      `the rendezvous store ${where} cannot be reached: ${why}`,
      when === "start"
        ? "check that Redis runs there and accepts this server (address, password, TLS), then start the server again"
        : "check that Redis runs there and accepts this server (address, password, TLS); the server retries by itself",
      { cause, detail: { where } },
    );
  },
  /** rediss://, and Redis's certificate does not chain to a trusted CA or is not for the host named. */
  storeUntrusted(where: string, why: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_STORE",
      `the rendezvous store ${where} cannot be reached: its TLS certificate is not trusted: ${why}`,
      "trust the CA that signed Redis's certificate (its PEM file as the store's CA), name Redis by a host or address its certificate is for, or check that this is the Redis you meant",
      { cause, detail: { where, reason: "tls-untrusted" } },
    );
  },
  /** redis:// at a port that answers in TLS. */
  storeWantsTls(where: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_STORE",
      `the rendezvous store ${where} cannot be reached: it answers in TLS, and the URL says redis:// (plain)`,
      "use rediss:// for a Redis that speaks TLS",
      { cause, detail: { where, reason: "tls-expected" } },
    );
  },
  /** rediss:// at a port that does not answer a TLS handshake. */
  storeNotTls(where: string, cause?: unknown): NetpunchError {
    return new NetpunchError(
      "E_STORE",
      `the rendezvous store ${where} cannot be reached: it does not answer a TLS handshake, and the URL says rediss://`,
      "use redis:// for a plain Redis, or the port of its tls-port",
      { cause, detail: { where, reason: "not-tls" } },
    );
  },
  /** serve() given both a secret and tenants, or neither. */
  secretOrTenants(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "serve() takes a secret or a list of tenants, exactly one of them",
      "pass `secret` for one set of peers, `tenants` for several kept apart",
    );
  },
  /** setTenants() on a server started with one secret. */
  noTenantsToChange(): NetpunchError {
    return new NetpunchError(
      "E_TENANTS",
      "this server has one secret, not tenants",
      "start it with a tenant list to change tenants while it runs",
    );
  },
  /** A CA to trust, for a store reached without TLS: it would be ignored, or (Bun) turn TLS on unasked. */
  storeCaWithoutTls(where: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `a CA to trust was given for the store ${where}, which is not reached over TLS`,
      "use a rediss:// URL with a CA, or give no CA",
    );
  },
  storeConflict(session: string, tries: number): NetpunchError {
    return new NetpunchError(
      "E_STORE",
      `session ${session} changed in the store under ${tries} attempts in a row to update it`,
      "servers sharing a store race for one session this hard only in a storm of its packets; the peers retry",
      { detail: { session } },
    );
  },
  offerTooLarge(hook: string, bytes: number, max: number): NetpunchError {
    return new NetpunchError(
      "E_OFFER",
      `the ${hook} hook's offer is ${bytes} bytes, more than the ${max} an offer may carry`,
      "this is a bug in the hook: an offer carries a key and an address, not a file",
    );
  },
  offerTwice(hooks: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `hooks ${hooks.map((h) => `"${h}"`).join(" and ")} both make an offer; one punch carries one`,
      "use one zero-config hook per tunnel",
    );
  },
  pinMismatch(tunnel: string, pinned: string, offered: string, file: string): NetpunchError {
    return new NetpunchError(
      "E_PIN_MISMATCH",
      `tunnel ${tunnel}: the partner offered key ${offered}, but key ${pinned} is pinned for it (${file}); refusing the tunnel`,
      "if the partner really made a new key (a reinstall, a lost state directory), remove the pinned key to accept the new one on the next punch; otherwise someone holding the shared secret may be in the middle",
      { detail: { tunnel, pinned, offered, file } },
    );
  },
  badTunnelName(tunnel: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `tunnel identity "${tunnel}" is not CONFIG/TUNNEL`,
      "name both with 1-64 letters, digits and . _ @ : + - (not . or ..)",
    );
  },
  noStateDir(hook: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `the ${hook} hook's zero-config mode keeps its key and the partner's pin in a state directory, and none was given`,
      "give the hook a state directory and a tunnel name",
    );
  },
  badKeyFile(file: string, what: string): NetpunchError {
    return new NetpunchError(
      "E_STATE",
      `${file} does not hold ${what}`,
      "restore it from a backup, or remove it to make a new key (the partner must then forget its pin of the old one)",
    );
  },
  stateUnusable(path: string, what: string, cause: unknown): NetpunchError {
    return new NetpunchError(
      "E_STATE",
      `cannot ${what} ${path}: ${(cause as NodeJS.ErrnoException)?.code ?? (cause as Error)?.message ?? String(cause)}`,
      "the state directory must be writable by netpunch (root's /var/lib/netpunch, or systemd's StateDirectory)",
      { cause },
    );
  },
  /** A pairing code that does not parse; `why` says which part, with a suggestion when one word is near. */
  badCode(why: string): NetpunchError {
    return new NetpunchError(
      "E_CODE",
      `the pairing code is not usable: ${why}`,
      "type the code exactly as the other host printed it: a number and words joined by -, e.g. 7-guitar-meadow",
      { detail: { reason: "bad-code" } },
    );
  },
  /**
   * Pairing failed after the two sides met: the partner proved another key (`wrong-code`: a mistyped or
   * guessed code, or messages altered on the way), or its proof never came (`no-confirmation`).
   */
  pairFailed(reason: "wrong-code" | "no-confirmation" | "bad-message"): NetpunchError {
    const message =
      reason === "wrong-code"
        ? "pairing failed: the other side used another code (or someone altered the messages); the code is spent"
        : reason === "bad-message"
          ? "pairing failed: the other side's pairing message is malformed (another netpunch version, or tampering); the code is spent"
          : "pairing failed: the other side did not confirm the key in time; the code is spent";
    return new NetpunchError("E_PAIR", message, "start again on the first host for a new code", {
      detail: { reason },
    });
  },
  /** Nobody waits with this code's number: it expired, was spent, or was mistyped. */
  nobodyWaiting(nameplate: number, seconds: number): NetpunchError {
    return new NetpunchError(
      "E_PAIR",
      `nobody waits with code ${nameplate}-... (waited ${seconds} s): the code expired, was spent, or its number is mistyped`,
      "check the number, or start again on the first host for a new code",
      { detail: { reason: "nobody-waiting" } },
    );
  },
  /** The first host's code was not taken up in time. */
  codeExpired(seconds: number): NetpunchError {
    return new NetpunchError(
      "E_PAIR",
      `nobody used the code within ${seconds} s; it has expired`,
      "start again for a new code, and type it on the other host sooner (or wait longer)",
      { detail: { reason: "code-expired" } },
    );
  },
};
