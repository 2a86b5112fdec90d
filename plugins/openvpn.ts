import { existsSync } from "node:fs";
import { isIP } from "node:net";
import * as v from "valibot";
import {
  defineHook,
  missingProgram,
  type PunchResult,
  resultEnv,
  runChild,
  zeroConfigPlace,
} from "../src/hooks/index.ts";
import {
  decodeOpenvpnOffer,
  encodeOpenvpnOffer,
  isIpv4Cidr,
  openvpnCert,
  openvpnZeroArgv,
} from "./openvpn-keys.ts";

export interface OpenvpnOptions {
  bin: string;
  config?: string;
  sudo: boolean;
  /** Everything after `--`: the user's own openvpn options, passed through untouched. */
  extra: string[];
}

const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/** The openvpn command line: the punched path first, then the user's config and options. Pure. */
export function openvpnArgv(r: PunchResult, o: OpenvpnOptions): string[] {
  const argv = [o.bin, "--remote", r.rhost, "--rport", String(r.rport), "--lport", String(r.lport)];
  argv.push("--proto", isIP(r.rhost) === 6 ? "udp6" : "udp");
  if (!WILDCARDS.has(r.lhost)) argv.push("--local", r.lhost);
  if (o.config) argv.push("--config", o.config);
  argv.push(...o.extra);
  // -n: never prompt for a password (there is nobody to answer); fail instead, with sudo's message.
  return o.sudo ? ["sudo", "-n", ...argv] : argv;
}

export default defineHook({
  name: "openvpn",
  description: "run openvpn through the punched hole (--remote/--rport/--lport/--proto set for you)",
  passthrough:
    "openvpn's own options, e.g. --dev tun --ifconfig 198.18.200.1 198.18.200.2 --secret secret.key",
  args: {
    "openvpn-bin": {
      type: "string",
      valueHint: "PATH",
      default: "openvpn",
      description: "the openvpn program",
    },
    "openvpn-config": {
      type: "string",
      valueHint: "FILE",
      description: "an openvpn config file (--config FILE)",
    },
    "openvpn-sudo": {
      type: "boolean",
      description: "run openvpn with sudo -n (see the sudoers line in README)",
    },
    "openvpn-address": {
      type: "string",
      valueHint: "CIDR",
      description:
        "zero-config: this side's tunnel address (e.g. 198.18.202.1/30); netpunch makes a certificate, offers its fingerprint and runs TLS point to point",
    },
    "openvpn-interface": {
      type: "string",
      valueHint: "IFACE",
      description: "zero-config: the tun device's name (default: openvpn picks tunN)",
    },
  },
  tunnelOptions: { interface: "openvpn-interface", address: "openvpn-address" },
  check: v.object({
    "openvpn-address": v.optional(
      v.pipe(v.string(), v.check(isIpv4Cidr, "is not an IPv4 address with its prefix, e.g. 198.18.202.1/30")),
    ),
    "openvpn-interface": v.optional(
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.=-]{1,15}$/, "is not an interface name")),
    ),
  }),
  preflight({ args, extraArgs }) {
    const cfg = args["openvpn-config"];
    if (cfg !== undefined && !existsSync(cfg)) return `--openvpn-config ${cfg} does not exist`;
    const zero = args["openvpn-address"] !== undefined;
    if (zero && (cfg !== undefined || extraArgs.length > 0))
      return "--openvpn-address is zero-config (netpunch makes the certificates): leave out --openvpn-config and the options after --, or --openvpn-address";
    if (!zero && args["openvpn-interface"] !== undefined)
      return "--openvpn-interface is for zero-config: give --openvpn-address too, or name the device after -- (--dev)";
    return args["openvpn-sudo"]
      ? missingProgram("sudo", "sudo")
      : missingProgram(args["openvpn-bin"], "openvpn");
  },
  // Zero-config (--openvpn-address): this host's certificate fingerprint and tunnel address, for the partner.
  async offer({ options, stateDir, tunnel }) {
    const address = options["openvpn-address"];
    if (address === undefined) return undefined;
    return encodeOpenvpnOffer({ fingerprint: (await openvpnCert(stateDir, tunnel)).fingerprint, address });
  },
  partnerFingerprint(partnerOffer, tunnel) {
    return decodeOpenvpnOffer(partnerOffer, tunnel).fingerprint;
  },
  async run(result, ctx) {
    const { options, logger, signal, extraArgs } = ctx;
    const address = options["openvpn-address"];
    const bin = options["openvpn-bin"];
    const sudo = options["openvpn-sudo"] === true;
    let argv: string[];
    if (address !== undefined) {
      const { stateDir, tunnel } = zeroConfigPlace("openvpn", ctx);
      const partner = decodeOpenvpnOffer(result.partnerOffer, tunnel);
      const cert = await openvpnCert(stateDir, tunnel);
      argv = openvpnZeroArgv(result, {
        bin,
        sudo,
        iface: options["openvpn-interface"],
        address,
        cert,
        partner,
      });
      logger.info(
        `TLS point to point as the ${result.role === "a" ? "server" : "client"}, partner ${partner.address}`,
      );
    } else argv = openvpnArgv(result, { bin, config: options["openvpn-config"], sudo, extra: extraArgs });
    const exit = await runChild({ argv, env: resultEnv(result), logger, prefix: "[openvpn]", signal });
    if (!exit.stopped && exit.code !== 0)
      throw new Error(`openvpn exited with code ${exit.code ?? exit.signal}`);
    logger.info(exit.stopped ? "openvpn stopped" : "openvpn exited");
  },
});
