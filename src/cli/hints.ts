// The CLI's words for failures: its own (CliFail, which name its flags freely) and its hints for the library's
// (cliHint), all in one file as the library's are in errors.ts.
import { NetpunchError } from "../errors.ts";

/**
 * The CLI's own hint for a library failure, naming its flags; undefined keeps the library's. The library's
 * hints say what to do in words any caller can act on; here the same advice is given as the options to use.
 */
export function cliHint(e: NetpunchError): string | undefined {
  switch (e.code) {
    case "E_TIMEOUT": {
      const role = String(e.detail.partnerRole ?? "");
      return `start the other peer with --role ${role} and the same --session, server and secret, or raise --timeout`;
    }
    case "E_PUNCH_FAILED":
      return e.hint?.replace("a server with a relay", "a server started with serve --relay");
    case "E_SERVER_FULL":
      return e.hint
        ?.replace("the session limit", "the session limit (serve --max-sessions)")
        .replace("the per-address limit", "the per-address limit (serve --max-per-address)");
    case "E_NO_ALT_PORT":
      return "start it with serve --alt-port PORT, and open that UDP port too";
    case "E_HOOK":
      return HOOK_HINTS[String(e.detail.reason)];
    case "E_USAGE":
      return e.detail.reason === "config-not-found"
        ? "write it there (packaging/home.toml.example is a start), or give its path: netpunch up ./home.toml"
        : undefined;
    case "E_PAIR":
      return PAIR_HINTS[String(e.detail.reason)] ?? e.hint;
    case "E_STORE":
      return STORE_HINTS[String(e.detail.reason)];
    case "E_MODE_MISMATCH":
      return "give both peers --proxy (proxy = true in an up tunnel), or neither";
    case "E_PIN_MISMATCH": {
      const [config, tunnel] = String(e.detail.tunnel ?? "").split("/");
      return `if the partner really made a new key (a reinstall, a lost state directory), run \`netpunch forget ${config} ${tunnel}\` to accept the new key at the next punch; otherwise someone holding the shared secret may be in the middle`;
    }
    default:
      return undefined;
  }
}

/** A hook's failure, by its `detail.reason`: the CLI's --verbose shows a hook's debug lines. */
const HOOK_HINTS: Readonly<Record<string, string>> = {
  "hook-failed": "run with --verbose for details",
  "hooks-failed": "each hook's failure is listed; run with --verbose for details",
  "command-not-found": "check the command after --",
  "no-execve": "run netpunch on Bun 1.4 or a release binary, or drop --exec-replace",
};

/** A store that cannot be reached because of TLS, by its `detail.reason`, as serve's options say it. */
const STORE_HINTS: Readonly<Record<string, string>> = {
  "tls-untrusted":
    "give the CA that signed Redis's certificate with --store-ca FILE (PEM), name Redis in --store by a host or IP its certificate is for, or check that it is the Redis you meant",
  "tls-expected": "Redis there speaks TLS: use rediss:// in --store (and --store-ca FILE for a private CA)",
  "not-tls": "use redis:// in --store for a plain Redis, or the port Redis serves TLS on (its tls-port)",
};

/** A failed pairing, by its `detail.reason`, as the pair command's options say it. */
const PAIR_HINTS: Readonly<Record<string, string>> = {
  "wrong-code": "run netpunch pair on the first host again for a new code, and type it exactly",
  "no-confirmation": "run netpunch pair on the first host again for a new code",
  "bad-message": "run the same netpunch version on both hosts, then netpunch pair again for a new code",
  "nobody-waiting": "check the number; or run netpunch pair (without a code) on the first host for a new one",
  "code-expired": "run netpunch pair again for a new code, or give it longer with --timeout SECONDS",
  mismatch: "give both hosts the same --hook, and --address in one subnet (or on neither), then pair again",
};

/** Written when a shutdown hangs: a hook went on after its abort signal (runtime.ts, STUCK_EXIT_MS). */
export const stuckAfterSignal = (sig: string, seconds: number): string =>
  `netpunch: still running ${seconds} s after ${sig} (a hook did not stop on its abort signal); exiting`;

/** The doctor's explanation of a verdict, with the option that provides what it calls for. */
export const cliExplanation = (verdict: string, text: string): string =>
  verdict === "relay" ? `${text} (serve --relay)` : text;

/** The command line's own failures, one factory each: usage errors (exit 2) unless their code says otherwise. */
export const CliFail = {
  notSeconds(flag: string, value: unknown): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${flag} "${String(value)}" is not a number of seconds`,
      `e.g. --${flag} 30 or --${flag} 2.5`,
    );
  },
  tooManySeconds(flag: string, value: unknown, maxSeconds: number): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${flag} "${String(value)}" is more than ${maxSeconds} seconds (24 days), longer than a timer can wait`,
      flag === "timeout" ? "leave --timeout out to wait forever" : `give at most --${flag} ${maxSeconds}`,
    );
  },
  /** connect needs a server: over UDP (--server), over a WebSocket (--server-tcp), or both. */
  serverChoice(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "no server given",
      "give --server HOST:PORT (UDP), or where UDP is blocked --server-tcp wss://HOST:PORT, or both (UDP first)",
    );
  },
  /** Both halves of the TLS listener, or neither; and no TLS option without a TCP listener. */
  tlsOptions(why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      why,
      "e.g. --relay-tcp 0.0.0.0:443 --tls-cert cert.pem --tls-key key.pem",
    );
  },
  /** A certificate, key or CA file that cannot be read. */
  unreadableFile(flag: string, file: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${flag} ${file} cannot be read: ${why}`,
      `give --${flag} a readable PEM file`,
    );
  },
  notPositiveInteger(flag: string, value: string, example: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${flag} "${value}" is not a positive whole number`,
      `e.g. --${flag} ${example}`,
    );
  },
  relayHostNeeded(listen: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--relay with a shared --store on the wildcard --listen ${listen} needs --relay-host: peers held by other servers must be told where this server's relays are`,
      "e.g. --relay-host 203.0.113.5 (this host's public IP), or --listen 203.0.113.5:10001",
    );
  },
  badStore(where: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--store ${where} is not a store: ${why}`,
      "e.g. --store memory, --store redis://203.0.113.5:6379/0 or --store rediss://user@203.0.113.5:6380/0 --store-password-file FILE",
    );
  },
  notPemCertificate(flag: string, file: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${flag} ${file} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
      `give --${flag} the CA's certificate in PEM, e.g. the ca.crt that signed Redis's tls-cert-file`,
    );
  },
  unreadablePasswordFile(file: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--store-password-file ${file} cannot be read: ${why}`,
      "give it a file holding the Redis password on one line",
    );
  },
  badPortRange(text: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--relay-ports "${text}" is not a range of unprivileged ports`,
      "e.g. --relay-ports 20000-20099",
    );
  },
  proxyReplaced(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "--proxy and --exec-replace exclude each other: the proxy lives in the netpunch process the command would replace",
      "drop --exec-replace (the exec hook then supervises the command), or drop --proxy",
    );
  },
  badRole(role: unknown): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--role must be a or b, not "${String(role)}"`,
      "run one peer with --role a and the other with --role b",
    );
  },
  /** `raw`: the option as written, a value after "=" included (it is cut off: it may be a secret). */
  unknownOption(raw: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `unknown option ${raw.split("=")[0]}`,
      "see --help for the options of this command",
    );
  },
  booleanWithValue(name: string, negated: boolean, inline: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${negated ? "no-" : ""}${name} takes no value (got "${inline}")`,
      `write --${name} to turn it on or --no-${name} to turn it off`,
    );
  },
  booleanBothWays(name: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${name} and --no-${name} contradict each other`,
      "give one of them",
    );
  },
  /** `flags`: each use as written (--session, -s...). */
  givenTwice(name: string, flags: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--${name} is given ${flags.length} times (${flags.join(", ")}); it takes one value`,
      `give --${name} once: netpunch does not pick one of them for you`,
    );
  },
  conflicting(a: string, b: string, hint: string): NetpunchError {
    return new NetpunchError("E_USAGE", `--${a} and --${b} cannot be used together`, hint);
  },
  /** `positionals`: the names of the positional arguments the command takes (none: only options). */
  extraArgument(extra: string, positionals: readonly string[]): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      positionals.length === 0
        ? `unexpected argument "${extra}": this command takes only options`
        : `unexpected argument "${extra}": this command takes ${positionals.length} (${positionals.join(" ")})`,
      "see --help; quote a value that contains spaces",
    );
  },
  doctorNeedsServer(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "doctor needs --server HOST:PORT or --stun HOST:PORT",
      "e.g. netpunch doctor --server 198.51.100.7:10001 --secret-file secret.txt",
    );
  },
  tooManyStun(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "give --stun at most twice",
      "two STUN addresses are enough to compare mappings",
    );
  },
  pairKeyFile(file: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_SECRET",
      `cannot use the pair key file ${file}: ${why}`,
      "give the file netpunch pair wrote (STATE/keys/CONFIG/TUNNEL/pair.key, 32 bytes in base64); if it is lost, pair the two hosts again",
    );
  },
  noSecret(): NetpunchError {
    return new NetpunchError(
      "E_SECRET",
      "no secret given",
      "use --secret-file FILE (or set NETPUNCH_SECRET); server and both peers need the same one",
    );
  },
  emptySecret(): NetpunchError {
    return new NetpunchError(
      "E_SECRET",
      "the secret is empty",
      "make one with netpunch keygen --output secret.txt and give it with --secret-file secret.txt",
    );
  },
  /** The secret file could not be read; `problem` says why, and what to do about it. */
  secretFile(file: string, problem: SecretFileProblem, cause?: unknown, what = "secret file"): NetpunchError {
    const [why, hint] = secretFileWords(problem);
    return new NetpunchError("E_SECRET", `cannot read the ${what} ${file}: ${why}`, hint, { cause });
  },
  /** serve --secrets-file: the tenants file is not valid (`why`, naming the tenant or key). */
  tenantsFile(file: string, why: string, hint: string): NetpunchError {
    return new NetpunchError("E_TENANTS", `the tenants file ${file} is not valid: ${why}`, hint);
  },
  secretsFileAndSecret(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "--secrets-file names every tenant's secret; --secret and --secret-file cannot be given with it",
      "give either --secrets-file FILE (several tenants) or --secret-file FILE (one secret)",
    );
  },
  fileExists(file: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${file} already exists; not overwriting it`,
      "give another FILE, or add --force to replace it (everything using the old secret then needs the new one)",
    );
  },
  /** keygen could not write FILE: `create` a new one, or `replace` (--force) an existing one. */
  cannotWrite(file: string, how: "create" | "replace", why: string, cause: unknown): NetpunchError {
    const hint =
      how === "create"
        ? "check that the directory exists and that this user may write there"
        : "check that FILE is not a directory and that this user may write there";
    return new NetpunchError("E_USAGE", `cannot ${how} ${file}: ${why}`, hint, { cause });
  },
  forceWithoutOutput(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "--force goes with --output FILE",
      "e.g. netpunch keygen --output secret.txt --force",
    );
  },
  /** `status` without CONFIG found no running `netpunch up` in the runtime directory. */
  /** `up` of a config whose every tunnel says `enabled = false`: nothing to keep up. */
  noTunnels(file: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${file}: no tunnel is enabled`,
      "add a [tunnel.NAME] table, or set enabled = true in one",
    );
  },
  nothingRunning(dir: string): NetpunchError {
    return new NetpunchError(
      "E_NOT_RUNNING",
      `no running netpunch up answers in ${dir}`,
      "start one (netpunch up CONFIG, or systemctl start netpunch-up@CONFIG), or give its --runtime-dir",
    );
  },
  badLogFormat(value: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--log-format "${value}" is neither text nor json`,
      "give --log-format text (lines for a person) or --log-format json (one JSON object per line)",
    );
  },
  /** A --loop run stopped by a signal between rounds (the CLI reports no message for it, only the exit). */
  interrupted(): NetpunchError {
    return new NetpunchError("E_ABORTED", "interrupted", "");
  },
  badPairName(name: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--name "${name}" is not a usable name`,
      "1-32 letters, digits, _ and -: it names the config (NAME.toml) and its tunnel",
    );
  },
  badPairHook(hook: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--hook ${hook} cannot be paired`,
      "give --hook wireguard or --hook openvpn",
    );
  },
  badCodeWords(words: string): NetpunchError {
    return new NetpunchError("E_USAGE", `--words ${words} is neither 2 nor 3`, "give --words 2 or --words 3");
  },
  badPairAddress(address: string, why: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--address ${address} ${why}`,
      "e.g. --address 198.18.201.1/24 here and --address 198.18.201.2/24 on the other host, or neither",
    );
  },
  badIpv4Range(range: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `--ipv4-range ${range} is not an IPv4 range of at least a /30`,
      "e.g. --ipv4-range 198.18.0.0/16, the same on both hosts",
    );
  },
  openvpnNeedsIpv4(): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      "an openvpn tunnel needs IPv4 addresses, and no --address or --ipv4-range is given",
      "give --ipv4-range 198.18.0.0/16 on both hosts (or --address on each)",
    );
  },
  pairConfigExists(file: string): NetpunchError {
    return new NetpunchError(
      "E_USAGE",
      `${file} already exists; pairing never replaces a config`,
      "give another --name (or --config FILE), or remove that file first",
    );
  },
  pairAlreadyPinned(tunnel: string, stateDir: string): NetpunchError {
    const [config, name] = tunnel.split("/");
    return new NetpunchError(
      "E_USAGE",
      `tunnel ${tunnel} already has a pinned partner key in ${stateDir}`,
      `give another --name, or run \`netpunch forget ${config} ${name}\` to pair it anew`,
    );
  },
  /** Both sides proved the key, but their tunnels do not fit together (checked on both sides alike). */
  pairMismatch(why: string): NetpunchError {
    return new NetpunchError("E_PAIR", `pairing failed: ${why}; nothing was written`, undefined, {
      detail: { reason: "mismatch" },
    });
  },
  nothingPinned(tunnel: string, file: string): NetpunchError {
    return new NetpunchError(
      "E_STATE",
      `no key is pinned for tunnel ${tunnel} (no ${file})`,
      "check the config and tunnel names, and --state-dir: netpunch pins a key at the tunnel's first punch",
    );
  },
};

export type SecretFileProblem =
  | { open: string }
  | { notAFile: string }
  | { read: string }
  | { largerThan: number };

/** An open(2) error code in words (the code too, for a search); anything else as it came. */
function openWords(code: string): string {
  const words: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ELOOP: "too many symbolic links",
  };
  return words[code] !== undefined ? `${words[code]} (${code})` : code;
}

function secretFileWords(p: SecretFileProblem): [why: string, hint: string] {
  if ("open" in p) return [openWords(p.open), "check the path and that this user may read it"];
  if ("notAFile" in p)
    return [
      `it is not a regular file (${p.notAFile})`,
      "give a file holding the secret, e.g. one made by netpunch keygen --output secret.txt",
    ];
  if ("read" in p) return [p.read, "check the file"];
  return [
    `it is larger than ${p.largerThan} bytes`,
    "a secret is one line, e.g. the 43 characters netpunch keygen prints",
  ];
}
