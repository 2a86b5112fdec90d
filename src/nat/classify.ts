import { sameEndpoint } from "../addr.ts";
import type { NatInfo } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";

/** Below this, two mappings' port difference looks like a sequential allocator's step rather than chance. */
export const SEQUENTIAL_MAX_STEP = 64;

/**
 * A socket's mapping behaviour from the public addresses two server ports saw for it (RFC 4787 terms):
 * no NAT when the address is our own, endpoint-independent when both ports saw the same mapping, else
 * dependent, sequential when the two ports are close. Pure.
 */
export function classifyMapping(
  viaMain: Endpoint,
  viaAlt: Endpoint,
  local: { port: number; hosts: string[] },
): NatInfo {
  if (sameEndpoint(viaMain, viaAlt)) {
    const own = local.hosts.includes(viaMain.host) && viaMain.port === local.port;
    return { mapping: own ? "none" : "independent", step: 0 };
  }
  const step = Math.max(-32768, Math.min(32767, viaAlt.port - viaMain.port));
  return {
    mapping: Math.abs(step) <= SEQUENTIAL_MAX_STEP && viaAlt.host === viaMain.host ? "sequential" : "random",
    step,
  };
}

/** Easy NATs keep one public port per socket: a partner can reach it once we have sent it anything. */
export const isEasy = (nat: NatInfo | undefined): boolean =>
  nat?.mapping === "none" || nat?.mapping === "independent";
export const isHard = (nat: NatInfo | undefined): boolean =>
  nat?.mapping === "sequential" || nat?.mapping === "random";

export type Verdict = "direct" | "prediction" | "relay";

/**
 * What this NAT needs, whoever the partner is; the doctor's one-word answer and its reason, in words that name
 * no command-line flag (the CLI adds its own: cli/hints.ts cliExplanation). Pure.
 */
export function verdict(nat: NatInfo): { verdict: Verdict; text: string } {
  switch (nat.mapping) {
    case "none":
      return { verdict: "direct", text: "public address, no NAT: direct punching works with any partner" };
    case "independent":
      return {
        verdict: "direct",
        text: "endpoint-independent mapping: direct punch will work with any partner (a symmetric partner by birthday probing)",
      };
    case "sequential":
      return {
        verdict: "prediction",
        text: `symmetric NAT with sequential ports (step ${nat.step}): needs port prediction; direct with an easy partner, relay with another symmetric one`,
      };
    case "random":
      return {
        verdict: "relay",
        text: "symmetric NAT with random ports: direct only with an easy partner (birthday probing), otherwise needs the relay",
      };
  }
}
