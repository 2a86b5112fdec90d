import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import {
  childEnv,
  defineHook,
  MAX_SECONDS,
  missingProgram,
  type PunchResult,
  runChild,
  sleep,
  zeroConfigPlace,
} from "../src/hooks/index.ts";
import {
  decodeWgOffer,
  encodeWgOffer,
  hostRoute,
  isCidr,
  WG_KEY,
  type WgOffer,
  wgKeys,
  wgSetArgv,
  wgZeroSetArgv,
} from "./wireguard-keys.ts";

export { type WgSetOptions, wgSetArgv } from "./wireguard-keys.ts";

/** Commands that bring the interface up before `wg set`, per --wg-up mode. Pure. */
export function wgUpCommands(o: {
  mode: "none" | "wg-quick" | "wireguard-go";
  iface: string;
  config?: string;
  address?: string;
}): string[][] {
  if (o.mode === "wg-quick") return [["wg-quick", "up", o.config ?? o.iface]];
  if (o.mode !== "wireguard-go") return [];
  const cmds: string[][] = [];
  if (o.config) cmds.push(["wg", "setconf", o.iface, o.config]);
  if (o.address) cmds.push(["ip", "address", "add", o.address, "dev", o.iface]);
  cmds.push(["ip", "link", "set", o.iface, "up"]);
  return cmds;
}

/** Where wireguard-go puts its control (UAPI) socket, which wg looks for first. */
const WG_SOCKET_DIR = "/var/run/wireguard";

/** wireguard-go in the foreground (-f rather than WG_PROCESS_FOREGROUND=1, which sudo's env_reset drops). */
export const wireguardGoArgv = (iface: string): string[] => ["wireguard-go", "-f", iface];

/**
 * With --wg-sudo every command goes through `sudo -n` (never prompts: there is nobody to answer), so the
 * sudoers line in the README lists exactly the programs this hook runs: wg, wg-quick, wireguard-go, ip.
 */
export const withSudo = (argv: string[], sudo: boolean): string[] => (sudo ? ["sudo", "-n", ...argv] : argv);

/** CAP_NET_ADMIN's bit in the capability sets (linux/capability.h). */
const CAP_NET_ADMIN = 12;

/** True when the CapEff line of /proc/PID/status includes CAP_NET_ADMIN (root has it). Pure. */
export function hasNetAdmin(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(procStatus)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
}

/** Whether this process may configure network interfaces itself (else it needs --wg-sudo). */
function mayAdminNetwork(): boolean {
  if (process.platform !== "linux") return process.getuid?.() === 0;
  try {
    return hasNetAdmin(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return process.getuid?.() === 0;
  }
}

/** The peer's last handshake (unix seconds, 0 = never) from `wg show IFACE latest-handshakes`. Pure. */
export function latestHandshake(output: string, peer: string): number {
  for (const line of output.split("\n")) {
    const [key, ts] = line.trim().split(/\s+/);
    if (key === peer) return Number(ts) || 0;
  }
  return 0;
}

/** Bytes received from the peer (0 = none yet) from `wg show IFACE transfer` ("PEER RX TX" lines). Pure. */
export function receivedBytes(output: string, peer: string): number {
  for (const line of output.split("\n")) {
    const [key, rx] = line.trim().split(/\s+/);
    if (key === peer) return Number(rx) || 0;
  }
  return 0;
}

/**
 * How long the partner may send nothing before the path counts as gone: it sends a keepalive every
 * `keepalive` seconds when it has nothing else to send, so three missed in a row (loss alone hardly
 * explains that) mean it, or the path, is gone; never under MIN_SILENT_S, which covers a busy host's pause.
 */
export const silentLimitS = (keepalive: number, silent?: number): number =>
  silent ?? Math.max(MIN_SILENT_S, SILENT_KEEPALIVES * keepalive);
const SILENT_KEEPALIVES = 3;
const MIN_SILENT_S = 10;

/** What setup leaves for cleanup in the hook's per-punch state. */
interface WgState {
  /** Stops the wireguard-go daemon, if setup started one, and forgets the abort listener. */
  stop?: () => void;
  /** The wireguard-go child, which cleanup waits for. */
  daemon?: Promise<unknown>;
  /** Zero-config: the partner's key (the peer whose handshake run waits for). */
  peer?: string;
  /** Zero-config on kernel WireGuard: setup made the interface, cleanup deletes it. */
  kernelLink?: boolean;
}
const wg = (state: Record<string, unknown>) => state as WgState;

/** Zero-config when no partner key is given: netpunch makes the keys and exchanges them as offers. */
const zeroConfig = (options: { "wg-peer"?: string }): boolean => options["wg-peer"] === undefined;

function runCommand(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", env: childEnv() });
  if (r.exitCode !== 0)
    throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
  return r.stdout.toString();
}

/** A number of seconds from `min` to netpunch's MAX_SECONDS (24 days), like every duration option. */
const seconds = (min: number) =>
  v.pipe(
    v.string(),
    v.transform(Number),
    v.number(),
    v.minValue(min),
    v.maxValue(MAX_SECONDS, `is more than ${MAX_SECONDS} seconds (24 days)`),
  );

export default defineHook({
  name: "wireguard",
  description:
    "point a WireGuard interface at the partner through the hole, wait for the handshake, stay while it is fresh",
  args: {
    "wg-interface": { type: "string", valueHint: "IFACE", description: "the WireGuard interface (e.g. wg0)" },
    "wg-peer": {
      type: "string",
      valueHint: "PUBKEY",
      description:
        "the partner's public key (as in wg show); leave out, with --wg-address, for zero-config keys",
    },
    "wg-keepalive": {
      type: "string",
      valueHint: "SECONDS",
      default: "25",
      description: "persistent keepalive, keeps the NAT mappings open",
    },
    "wg-up": {
      type: "string",
      valueHint: "none|wg-quick|wireguard-go",
      default: "none",
      description:
        "bring the interface up first: wg-quick up, or wireguard-go where there is no kernel module",
    },
    "wg-config": {
      type: "string",
      valueHint: "FILE",
      description: "with --wg-up: the wg-quick config, or a wg setconf file for wireguard-go",
    },
    "wg-address": {
      type: "string",
      valueHint: "CIDR",
      description:
        "the interface address, e.g. 198.18.201.1/24; without --wg-peer: zero-config, netpunch makes the keys and offers its public key and this address",
    },
    "wg-handshake-timeout": {
      type: "string",
      valueHint: "SECONDS",
      default: "30",
      description: "fail if no handshake by then",
    },
    "wg-sudo": {
      type: "boolean",
      description: "run wg, wg-quick, wireguard-go and ip with sudo -n (see the sudoers line in README)",
    },
    "wg-stale": {
      type: "string",
      valueHint: "SECONDS",
      default: "180",
      description: "end (and let --loop re-punch) once the last handshake is this old",
    },
    "wg-silent": {
      type: "string",
      valueHint: "SECONDS",
      description:
        "end (and let --loop or up re-punch) once nothing has come from the partner for this long (default: 3 keepalives, at least 10)",
    },
  },
  tunnelOptions: { interface: "wg-interface", address: "wg-address" },
  check: v.object({
    "wg-interface": v.pipe(
      v.string("is required"),
      v.regex(/^[A-Za-z0-9_.=-]{1,15}$/, "is not an interface name"),
    ),
    "wg-peer": v.optional(
      v.pipe(v.string(), v.regex(WG_KEY, "is not a WireGuard public key (44 base64 characters)")),
    ),
    "wg-keepalive": v.pipe(
      v.string(),
      v.transform(Number),
      v.number(),
      v.integer(),
      v.minValue(1),
      v.maxValue(65535),
    ),
    "wg-up": v.picklist(["none", "wg-quick", "wireguard-go"], "must be none, wg-quick or wireguard-go"),
    "wg-handshake-timeout": seconds(1),
    "wg-stale": seconds(10),
    "wg-silent": v.optional(seconds(MIN_SILENT_S)),
  }),
  preflight({ args }) {
    if (args["wg-interface"] === undefined) return "--wg-interface IFACE is required";
    const zero = zeroConfig(args);
    if (zero && args["wg-address"] === undefined)
      return "--wg-peer PUBKEY (the partner's public key) is required, or --wg-address CIDR for zero-config keys";
    // Only zero-config offers the address, so only there must it carry its prefix (the partner's allowed-ips
    // come from it); with keys by hand it goes to `ip address add` as it always did.
    if (zero && !isCidr(args["wg-address"] ?? ""))
      return `--wg-address ${args["wg-address"]} is not an address with its prefix, e.g. 198.18.201.1/24`;
    const cfg = args["wg-config"];
    if (zero && cfg !== undefined)
      return "--wg-config is for keys given by hand: zero-config (no --wg-peer) makes its own";
    if (zero && args["wg-up"] === "wg-quick")
      return "--wg-up wg-quick is for keys given by hand: zero-config (no --wg-peer) brings the interface up itself";
    if (cfg !== undefined && !existsSync(cfg)) return `--wg-config ${cfg} does not exist`;
    const up = args["wg-up"];
    const sudo = args["wg-sudo"] === true;
    if (!sudo && !mayAdminNetwork())
      return "configuring WireGuard needs root or CAP_NET_ADMIN: run netpunch as root, or add --wg-sudo (see the sudoers line in README)";
    return (
      (sudo ? missingProgram("sudo", "sudo") : undefined) ??
      missingProgram("wg", "wireguard-tools") ??
      (up === "wg-quick" ? missingProgram("wg-quick", "wireguard-tools") : undefined) ??
      (zero ? missingProgram("ip", "iproute2") : undefined) ??
      (up === "wireguard-go"
        ? (missingProgram("wireguard-go", "wireguard-go") ?? missingProgram("ip", "iproute2"))
        : undefined)
    );
  },
  // Zero-config: this host's public key and tunnel address, for the partner; the keys are made on first use.
  async offer({ options, stateDir, tunnel }) {
    const address = options["wg-address"];
    if (!zeroConfig(options) || address === undefined) return undefined;
    return encodeWgOffer({ key: (await wgKeys(stateDir, tunnel)).publicKey, address });
  },
  partnerFingerprint(partnerOffer, tunnel) {
    return decodeWgOffer(partnerOffer, tunnel).key; // a WireGuard public key is its own fingerprint
  },
  // Setup brings the interface up and points it at the partner; run waits for the handshake and stays while
  // it is fresh; cleanup takes down what setup brought up, whatever ended the run.
  async setup(result, ctx) {
    const { options, logger, signal, state } = ctx;
    const iface = options["wg-interface"];
    const mode = options["wg-up"];
    const run = (argv: string[]) => runCommand(withSudo(argv, options["wg-sudo"] === true));
    const own = new AbortController(); // stops the wireguard-go we start, whatever ends the run
    const stopOwn = () => own.abort();
    signal.addEventListener("abort", stopOwn, { once: true });
    wg(state).stop = () => {
      signal.removeEventListener("abort", stopOwn);
      own.abort();
    };
    const startGo = async () => {
      wg(state).daemon = runChild({
        argv: withSudo(wireguardGoArgv(iface), options["wg-sudo"] === true),
        logger,
        prefix: "[wireguard-go]",
        signal: own.signal,
      });
      // wg talks to wireguard-go through its control socket, made a moment after the TUN device: until both
      // exist, wg falls back to the kernel module ("Protocol not supported" where there is none). 50 x 100 ms:
      // wireguard-go is up in well under a second; past 5 s wg reports what is wrong itself.
      const ready = () =>
        existsSync(`/sys/class/net/${iface}`) && existsSync(`${WG_SOCKET_DIR}/${iface}.sock`);
      for (let i = 0; i < 50 && !ready(); i++) await sleep(100, signal);
    };
    const peer = options["wg-peer"];
    if (peer === undefined) {
      await setupZeroConfig(result, ctx, { run, startGo });
      return;
    }
    if (mode === "wireguard-go") await startGo();
    for (const cmd of wgUpCommands({
      mode,
      iface,
      config: options["wg-config"],
      address: options["wg-address"],
    }))
      run(cmd);
    run(wgSetArgv(result, { iface, peer, keepalive: options["wg-keepalive"] }));
    logger.info(`${iface}: listen-port ${result.lport}, peer endpoint ${result.raddr}`);
  },
  async run(result, { options, logger, signal, state }) {
    const iface = options["wg-interface"];
    const peer = wg(state).peer ?? options["wg-peer"] ?? "";
    const run = (argv: string[]) => runCommand(withSudo(argv, options["wg-sudo"] === true));
    const started = Date.now();
    const deadline = started + options["wg-handshake-timeout"] * 1000;
    const handshake = () => latestHandshake(run(["wg", "show", iface, "latest-handshakes"]), peer);
    while (!signal.aborted && handshake() === 0) {
      if (Date.now() > deadline) {
        const secs = options["wg-handshake-timeout"];
        throw new Error(
          `no WireGuard handshake on ${iface} within ${secs} s: check both public keys and AllowedIPs`,
        );
      }
      await sleep(250, signal);
    }
    if (signal.aborted) return;
    logger.success(
      `${iface}: handshake with ${result.raddr} after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // Stay while the handshake is fresh (WireGuard re-handshakes every 2 minutes while traffic flows) and the
    // partner is heard: its keepalives alone make the received bytes grow every --wg-keepalive seconds.
    const staleMs = options["wg-stale"] * 1000;
    const silentMs = silentLimitS(options["wg-keepalive"], options["wg-silent"]) * 1000;
    const received = () => receivedBytes(run(["wg", "show", iface, "transfer"]), peer);
    let rx = received();
    let heardAt = Date.now();
    while (!signal.aborted) {
      await sleep(2_000, signal);
      if (signal.aborted) break;
      const last = handshake();
      if (Date.now() - last * 1000 > staleMs) {
        logger.warn(
          `${iface}: last handshake ${Math.round(Date.now() / 1000 - last)} s ago; the path is gone`,
        );
        return;
      }
      const now = received();
      if (now !== rx) [rx, heardAt] = [now, Date.now()];
      else if (Date.now() - heardAt > silentMs) {
        logger.warn(
          `${iface}: nothing from the partner for ${Math.round((Date.now() - heardAt) / 1000)} s; the path is gone`,
        );
        return;
      }
    }
  },
  async cleanup(_result, { options, logger, state }) {
    const sudo = options["wg-sudo"] === true;
    const quietly = (argv: string[]) => {
      try {
        runCommand(withSudo(argv, sudo));
      } catch (e) {
        logger.warn((e as Error).message); // the interface may be half up; the next round's `up` says more
      }
    };
    if (options["wg-up"] === "wg-quick")
      quietly(["wg-quick", "down", options["wg-config"] ?? options["wg-interface"]]);
    if (wg(state).kernelLink) quietly(["ip", "link", "del", options["wg-interface"]]);
    wg(state).stop?.();
    await wg(state).daemon;
  },
});

/**
 * Zero-config setup against the partner's offer: the interface (kernel WireGuard where `ip link add ... type
 * wireguard` works, else wireguard-go), this side's address, `wg set` with this side's key file and the
 * partner's key, endpoint and one address, then link up and a route to the partner's address.
 */
async function setupZeroConfig(
  result: PunchResult,
  ctx: {
    options: { "wg-interface": string; "wg-address"?: string; "wg-keepalive": number; "wg-up": string };
    logger: { info(m: string): void; debug(m: string): void };
    state: Record<string, unknown>;
    stateDir?: string;
    tunnel?: string;
  },
  o: { run: (argv: string[]) => string; startGo: () => Promise<void> },
): Promise<void> {
  const { options, logger, state } = ctx;
  const { stateDir, tunnel } = zeroConfigPlace("wireguard", ctx);
  const iface = options["wg-interface"];
  const partner: WgOffer = decodeWgOffer(result.partnerOffer, tunnel);
  const keys = await wgKeys(stateDir, tunnel);
  wg(state).peer = partner.key;
  if (options["wg-up"] === "wireguard-go" || !tryKernelLink(iface, o.run)) {
    logger.debug(`${iface}: no kernel WireGuard here, starting wireguard-go`);
    await o.startGo();
  } else wg(state).kernelLink = true;
  o.run(["ip", "address", "add", options["wg-address"] ?? "", "dev", iface]);
  o.run(
    wgZeroSetArgv(result, {
      iface,
      privateKeyFile: keys.privateKeyFile,
      partner,
      keepalive: options["wg-keepalive"],
    }),
  );
  o.run(["ip", "link", "set", iface, "up"]);
  // A route to the partner's one address, for when it lies outside this side's prefix (a /32 each, say);
  // inside it, the more specific route changes nothing. It goes with the interface.
  o.run(["ip", "route", "replace", hostRoute(partner.address), "dev", iface]);
  logger.info(
    `${iface}: ${options["wg-address"]}, listen-port ${result.lport}, partner ${partner.address} at ${result.raddr}`,
  );
}

/** True when the kernel made the interface (`ip link add IFACE type wireguard`); false where it has no module. */
function tryKernelLink(iface: string, run: (argv: string[]) => string): boolean {
  try {
    run(["ip", "link", "add", iface, "type", "wireguard"]);
    return true;
  } catch {
    return false;
  }
}
