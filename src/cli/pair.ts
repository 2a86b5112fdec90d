// `netpunch pair`: pairs two hosts by a short code (src/pair: CPace through the rendezvous server), then
// writes on each the `up` config of their tunnel, this side's key, the pair key and the partner's pinned
// key. Without CODE it makes one, prints it (stdout) and waits; with CODE it joins. Nothing is written
// unless both sides proved the same key.
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, resolve } from "node:path";
import { defineCommand } from "citty";
import { isCidr } from "../../plugins/wireguard-keys.ts";
import { checkPin, pinnedFingerprint } from "../hooks/pins.ts";
import { configName, tunnelId, writePrivateFile } from "../hooks/state-dir.ts";
import { DEFAULT_CODE_WORDS, formatCode, newCode, type PairCode, parseCode } from "../pair/code.ts";
import { ipv4Address, parseIpv4Range, sameSubnet, tunnelSession, ulaAddress } from "../pair/derive.ts";
import {
  type AddressSpec,
  decodePairOffer,
  encodePairOffer,
  PAIR_HOOKS,
  type PairHook,
} from "../pair/pair-offer.ts";
import { pair } from "../pair/run.ts";
import { defaultStateDir } from "../sys/dirs.ts";
import { systemRandom } from "../sys/random.ts";
import type { Role } from "../types.ts";
import { checkArgs, logArgs, secondsOption } from "./common.ts";
import { CliFail } from "./hints.ts";
import { writeSecretFile } from "./keygen.ts";
import { makeLogger } from "./logger.ts";
import { defaultPairConfig, pairConfigText, partnerFingerprint, tunnelKey } from "./pair-files.ts";
import { pairKeyFile } from "./pair-key.ts";
import { resolveSecret } from "./secret.ts";

/** @default 600 s: a code lives ten minutes, long enough to read it to someone, short enough to be fresh. */
export const CODE_LIFETIME_SECONDS = 600;
/** @default 60 s: the first host already waits, so a joiner that meets nobody this long has a dead code. */
export const JOIN_WAIT_SECONDS = 60;
/** A name for the config and its tunnel: a config name `up` finds and a tunnel name its tables take. */
const PAIR_NAME = /^[A-Za-z0-9_-]{1,32}$/;

export const pairArgs = {
  code: {
    type: "positional",
    required: false,
    description:
      "the code the other host printed (e.g. 7-guitar-meadow), or - to read it from stdin (out of ps); without it, make a code and wait",
  },
  server: { type: "string", valueHint: "HOST:PORT", required: true, description: "the rendezvous server" },
  "secret-file": {
    type: "string",
    valueHint: "FILE",
    required: true,
    description:
      "the server's admission secret (the config refers to this file; the pair needs no other secret)",
  },
  name: {
    type: "string",
    valueHint: "NAME",
    default: "pair",
    description: "the config's and tunnel's name: netpunch up NAME starts it",
  },
  hook: {
    type: "string",
    valueHint: "wireguard|openvpn",
    default: "wireguard",
    description: "the tunnel's kind; both hosts must give the same",
  },
  address: {
    type: "string",
    valueHint: "CIDR",
    description:
      "this side's tunnel address (e.g. 198.18.201.1/24); default: derived from the pair key (IPv6 ULA, or IPv4 from --ipv4-range)",
  },
  "ipv4-range": {
    type: "string",
    valueHint: "CIDR",
    description:
      "without --address: derive IPv4 tunnel addresses from this range (both hosts give the same); openvpn needs it or --address",
  },
  config: {
    type: "string",
    valueHint: "FILE",
    description:
      "where to write the up config (default: /etc/netpunch/NAME.toml as root, else NAME.toml in $XDG_CONFIG_HOME/netpunch); never replaced",
  },
  "state-dir": {
    type: "string",
    valueHint: "DIR",
    description:
      "where keys and the pin go (default: $STATE_DIRECTORY, else /var/lib/netpunch as root, else ~/.local/state/netpunch)",
  },
  words: {
    type: "string",
    valueHint: "2|3",
    default: String(DEFAULT_CODE_WORDS),
    description: "words in a new code: 2 (1 guess in 65,536 succeeds) or 3 (1 in 16,777,216)",
  },
  timeout: {
    type: "string",
    valueHint: "SECONDS",
    description: `how long to wait for the other host (default: ${CODE_LIFETIME_SECONDS} with a new code, ${JOIN_WAIT_SECONDS} when joining)`,
  },
  ...logArgs,
} as const;

/** This side's address as the offer states it: given, or to derive once the pair key is known. */
function addressSpec(hook: PairHook, address: string | undefined, range: string | undefined): AddressSpec {
  if (address !== undefined) {
    if (!isCidr(address)) throw CliFail.badPairAddress(address, "is not an address with a prefix");
    if (hook === "openvpn" && !address.includes("."))
      throw CliFail.badPairAddress(address, "openvpn tunnels take IPv4 addresses");
    return { cidr: address };
  }
  if (range !== undefined) {
    if (parseIpv4Range(range) === undefined) throw CliFail.badIpv4Range(range);
    return { range };
  }
  if (hook === "openvpn") throw CliFail.openvpnNeedsIpv4();
  return { ula: true };
}

/** The address a side's spec stands for, now that the pair key is there. */
function addressOf(spec: AddressSpec, pairKey: Uint8Array, role: Role): string {
  if ("cidr" in spec) return spec.cidr;
  if ("range" in spec) return ipv4Address(pairKey, role, spec.range) ?? "";
  return ulaAddress(pairKey, role);
}

export const pairCommand = (signal: AbortSignal) =>
  defineCommand({
    meta: {
      name: "pair",
      description:
        "pair with another host by a short code (a PAKE through the server), and write the up config of the tunnel between them",
    },
    args: pairArgs,
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, pairArgs);
      const logger = makeLogger({ quiet: args.quiet, verbose: args.verbose });
      const name = args.name;
      if (!PAIR_NAME.test(name)) throw CliFail.badPairName(name);
      const hook = args.hook as PairHook;
      if (!PAIR_HOOKS.includes(hook)) throw CliFail.badPairHook(args.hook);
      const words = Number(args.words);
      if (words !== 2 && words !== 3) throw CliFail.badCodeWords(args.words);
      const spec = addressSpec(hook, args.address, args["ipv4-range"]);
      const joining = args.code !== undefined && args.code !== "";
      const code: PairCode = joining
        ? parseCode(args.code === "-" ? await firstLine(process.stdin) : String(args.code))
        : newCode((n) => systemRandom.bytes(n), words);
      const role: Role = joining ? "b" : "a";
      const timeoutMs =
        secondsOption(args.timeout, "timeout") ??
        (joining ? JOIN_WAIT_SECONDS : CODE_LIFETIME_SECONDS) * 1000;

      const env = process.env;
      const uid = process.getuid?.() ?? -1;
      const configFile = resolve(args.config ?? defaultPairConfig(name, env, uid, env.HOME || homedir()));
      const stateDir = resolve(args["state-dir"] ?? defaultStateDir(env, uid));
      // As up names it: the config's name (its file's, which --config may make another than NAME) and NAME.
      const tunnel = tunnelId(configName(configFile), name);
      // Refused before any packet: a pairing never replaces a config or a pin.
      if (existsSync(configFile)) throw CliFail.pairConfigExists(configFile);
      if (pinnedFingerprint(stateDir, tunnel) !== undefined)
        throw CliFail.pairAlreadyPinned(tunnel, stateDir);
      const secretFile = resolve(args["secret-file"]);
      const secret = resolveSecret({ secretFile, logger });
      const key = await tunnelKey(hook, stateDir, tunnel);

      if (!joining) {
        const text = formatCode(code);
        process.stdout.write(`${text}\n`);
        process.stderr.write(
          `on the other host, run: netpunch pair --server ${args.server} --secret-file FILE ${text}  (the code works once, for ${Math.round(timeoutMs / 1000)} s)\n`,
        );
      }
      logger.info(joining ? `joining code ${code.nameplate}-...` : "waiting for the other host");
      const paired = await pair({
        connect: { server: args.server, secret },
        role,
        code,
        offer: encodePairOffer({ hook, key: key.raw, address: spec }),
        random32: systemRandom.bytes(32),
        timeoutMs,
        signal,
      });

      // Proven: the partner's offer is what it sent. Check it fits ours before anything is written.
      const partner = decodePairOffer(paired.partnerOffer);
      if (partner.hook !== hook)
        throw CliFail.pairMismatch(`the other host pairs a ${partner.hook} tunnel, this one ${hook}`);
      const partnerRole: Role = role === "a" ? "b" : "a";
      const mine = addressOf(spec, paired.pairKey, role);
      const theirs = addressOf(partner.address, paired.pairKey, partnerRole);
      if (!sameSubnet(mine, theirs))
        throw CliFail.pairMismatch(
          `the tunnel addresses ${mine} (here) and ${theirs} (there) are not in one subnet`,
        );
      const fingerprint = partnerFingerprint(hook, partner.key);

      await key.save();
      const keyFile = pairKeyFile(stateDir, tunnel);
      writePrivateFile(keyFile, `${Buffer.from(paired.pairKey).toString("base64")}\n`);
      checkPin(stateDir, tunnel, fingerprint);
      const text = pairConfigText({
        server: args.server,
        secretFile,
        stateDir,
        tunnel: name,
        configName: args.config ? configFile : name,
        role,
        session: tunnelSession(paired.pairKey),
        pairKeyFile: keyFile,
        hook,
        address: mine,
        date: new Date().toISOString(),
        partnerKey: fingerprint,
      });
      writeConfig(configFile, text);
      logger.info(
        `paired: wrote ${configFile} (mode 0600; tunnel address ${mine}, the other host's ${theirs}); keys and the partner's pinned key are in ${stateDir}. Start it with: netpunch up ${args.config ? configFile : name}`,
      );
      process.stdout.write(`${configFile}\n`);
    },
  });

/** The config, mode 0600 in a directory made 0700 if missing; an existing file is never replaced. */
function writeConfig(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeSecretFile(file, text, false);
}

/** The first line of `input` (a code typed or piped in: other local users see a command line, not stdin). */
async function firstLine(input: AsyncIterable<Uint8Array | string>): Promise<string> {
  let text = "";
  for await (const chunk of input) {
    text += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0] ?? "";
}
