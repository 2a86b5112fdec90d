import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { defineHook, missingProgram, type PunchResult, resultEnv, runChild } from "../src/hooks/index.ts";

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
  },
  preflight({ args }) {
    const cfg = args["openvpn-config"];
    if (cfg !== undefined && !existsSync(cfg)) return `--openvpn-config ${cfg} does not exist`;
    return args["openvpn-sudo"]
      ? missingProgram("sudo", "sudo")
      : missingProgram(args["openvpn-bin"], "openvpn");
  },
  async run(result, { options, logger, signal, extraArgs }) {
    const argv = openvpnArgv(result, {
      bin: options["openvpn-bin"],
      config: options["openvpn-config"],
      sudo: options["openvpn-sudo"] === true,
      extra: extraArgs,
    });
    const exit = await runChild({ argv, env: resultEnv(result), logger, prefix: "[openvpn]", signal });
    if (!exit.stopped && exit.code !== 0)
      throw new Error(`openvpn exited with code ${exit.code ?? exit.signal}`);
    logger.info(exit.stopped ? "openvpn stopped" : "openvpn exited");
  },
});
