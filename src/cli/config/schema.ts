import { isAbsolute } from "node:path";
import * as v from "valibot";
import { isIP, parseAddress } from "../../addr.ts";
import { NetpunchError } from "../../errors.ts";
import { SessionName } from "../../protocol/messages.ts";

// The keys a config file may hold besides connect's and the hooks' options, each with its schema. Messages
// say what is wrong without repeating the value: a value in the wrong key may be a secret.

/** Linux's limit on an interface name: IFNAMSIZ (16) less its terminating NUL. */
export const MAX_INTERFACE_NAME = 15;
/** What netpunch derives an interface name from a tunnel's name with. */
export const INTERFACE_PREFIX = "np-";
/** A tunnel's name: it becomes part of its interface's name and of log tags. */
export const TUNNEL_NAME = /^[A-Za-z0-9_-]+$/;
/** An interface name every tool accepts (ip, wg, openvpn): no "/", ":", spaces; not "." or "..". */
const INTERFACE_NAME = /^[A-Za-z0-9_.=-]{1,15}$/;
/** IPv4 and IPv6 prefix lengths. */
const MAX_PREFIX = { 4: 32, 6: 128 } as const;

/** The reason parseAddress gives, without the value it quotes. */
function addressProblem(input: string, opts: { allowEmptyHost?: boolean; allowPortZero?: boolean } = {}) {
  try {
    parseAddress(input, "-", opts);
    return undefined;
  } catch (e) {
    if (!(e instanceof NetpunchError)) throw e;
    const prefix = `- "${input}" is not a valid address: `;
    return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : "it is not a valid host:port";
  }
}

const ServerAddress = v.pipe(
  v.string('must be "host:port"'),
  v.check(
    (s) => addressProblem(s) === undefined,
    (i) => `is not a valid address: ${addressProblem(String(i.input))}`,
  ),
);

/** `server`: one "host:port" or an array of them, at least one, no repeats. */
export const Servers = v.pipe(
  v.union([v.string(), v.array(v.unknown())], 'must be "host:port" or an array of them'),
  v.transform((s): unknown[] => (typeof s === "string" ? [s] : s)),
  v.minLength(1, "must list at least one server"),
  v.array(ServerAddress),
  v.check((s) => new Set(s).size === s.length, "lists a server twice"),
);

/** Why a WebSocket server's URL is not one (connect's --server-tcp), or undefined; the URL is not quoted. */
export function wsUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'is not a URL: write "wss://HOST:PORT" (or "ws://HOST:PORT")';
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return "must start with wss:// or ws://";
  if (url.hostname === "") return "names no host";
  return undefined;
}

/**
 * `server_tcp`: the server's WebSocket, for a network that drops UDP (connect's --server-tcp); beside
 * `server`, tried when UDP goes unanswered.
 */
const ServerUrl = v.pipe(
  v.string('must be "wss://HOST:PORT" or "ws://HOST:PORT" (a string)'),
  v.check(
    (s) => wsUrlProblem(s) === undefined,
    (i) => wsUrlProblem(String(i.input)) ?? "",
  ),
);

const Path = (what: string) =>
  v.pipe(v.string(`must be ${what} (a string)`), v.minLength(1, `must be ${what}, not empty`));

/** The top level's own keys. `tunnel` is read on its own (a table of tables). */
export const TOP_KEYS = {
  // server, server_tcp or both are required (load.ts checkTop): both is UDP first, then the WebSocket.
  server: { schema: Servers, required: false },
  server_tcp: { schema: ServerUrl, required: false },
  tls_ca: { schema: Path("the path of a PEM file"), required: false },
  secret_file: { schema: Path("the path of the secret file"), required: true },
  state_dir: {
    schema: v.pipe(Path("a directory"), v.check(isAbsolute, "must be an absolute path")),
    required: false,
  },
  runtime_dir: {
    schema: v.pipe(Path("a directory"), v.check(isAbsolute, "must be an absolute path")),
    required: false,
  },
} as const satisfies Record<string, { schema: v.GenericSchema; required: boolean }>;

/** Why a CIDR ("198.18.201.1/24", "2001:db8::1/64") is not one, or undefined. */
export function cidrProblem(s: string): string | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return "must be an address with its prefix length, e.g. 198.18.201.1/24";
  const family = isIP(s.slice(0, slash));
  if (family === 0 || s.includes("%")) return "is not an IPv4 or IPv6 address with a prefix length";
  const length = s.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(length) || Number(length) > MAX_PREFIX[family])
    return `must end in a prefix length of 0 to ${MAX_PREFIX[family]}`;
  return undefined;
}

/** A tunnel table's own keys (role, session, local and hook are also connect options, written out in argv). */
export const TUNNEL_KEYS = {
  role: { schema: v.picklist(["a", "b"], 'must be "a" or "b"'), required: true },
  session: {
    schema: v.pipe(
      v.string("must be a session name (a string)"),
      v.check(
        (s) => v.is(SessionName, s),
        "must be 1-64 letters, digits and . _ @ : + - (the partner's config names the same)",
      ),
    ),
    required: true,
  },
  local: {
    schema: v.pipe(
      v.string('must be "[host]:port" (a string)'),
      v.check(
        (s) => addressProblem(s, { allowEmptyHost: true, allowPortZero: true }) === undefined,
        (i) =>
          `is not a valid address: ${addressProblem(String(i.input), { allowEmptyHost: true, allowPortZero: true })}`,
      ),
    ),
    required: false,
  },
  hook: { schema: Path("a hook's name or the path of a hook file"), required: false },
  interface: {
    schema: v.pipe(
      v.string("must be an interface name (a string)"),
      v.check(
        (s) => INTERFACE_NAME.test(s) && s !== "." && s !== "..",
        `must be 1-${MAX_INTERFACE_NAME} letters, digits and _ . = - (Linux's limit)`,
      ),
    ),
    required: false,
  },
  address: {
    schema: v.pipe(
      v.string("must be an address with its prefix length (a string), e.g. 198.18.201.1/24"),
      v.check(
        (s) => cidrProblem(s) === undefined,
        (i) => cidrProblem(String(i.input)) ?? "",
      ),
    ),
    required: false,
  },
  args: {
    schema: v.array(v.string(), "must be an array of strings: what follows -- for the hook"),
    required: false,
  },
  server: { schema: Servers, required: false },
  server_tcp: { schema: ServerUrl, required: false },
  tls_ca: { schema: Path("the path of a PEM file"), required: false },
  enabled: { schema: v.boolean("must be true or false"), required: false },
  // connect's --pair-key-file, spelt like secret_file; relative to the config file's directory.
  pair_key_file: { schema: Path("the path of the pair key file"), required: false },
} as const satisfies Record<string, { schema: v.GenericSchema; required: boolean }>;

/** The interface name a tunnel gets when its table names none: the prefix and its name, cut to Linux's limit. */
export const defaultInterface = (tunnel: string): string =>
  `${INTERFACE_PREFIX}${tunnel}`.slice(0, MAX_INTERFACE_NAME);
