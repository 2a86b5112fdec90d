// Where a peer sits: on the internet side, behind one NAT, behind two (carrier-grade), or behind a symmetric
// NAT. Shared by the lab tests and the placement-matrix benchmark.
import { SEQUENTIAL_MAX_STEP } from "../src/nat/classify.ts";
import type { Host, Lab, LinkOptions } from "./lab.ts";

export type Side = "public" | "nat" | "double" | "symmetric";

export interface Placed {
  host: Host;
  publicIp: string;
  lanIp: string;
  /** The NAT the host sits behind (the inner one of two); none for a public host. */
  gateway?: Host;
}

/** Puts a peer host on the internet side, behind one NAT, behind two (carrier-grade) or behind a symmetric NAT. */
export async function place(
  l: Lab,
  name: string,
  side: Side,
  lanBase: string,
  link: LinkOptions = {},
): Promise<Placed> {
  const host = l.host(name);
  if (side === "public") {
    const ip = await l.attachPublic(host, link);
    return { host, publicIp: ip, lanIp: ip };
  }
  if (side === "double") {
    const cgn = l.host(`cgn${name}`);
    const cgnIp = await l.attachPublic(cgn, link);
    const cpe = l.host(`cpe${name}`);
    l.lan(cgn, "198.19.1", [cpe]);
    const [lanIp = ""] = l.lan(cpe, lanBase, [host]);
    l.masquerade(cgn);
    l.masquerade(cpe);
    return { host, publicIp: cgnIp, lanIp, gateway: cpe };
  }
  const gw = l.host(`gw${name}`);
  const gwIp = await l.attachPublic(gw, link);
  const [lanIp = ""] = l.lan(gw, lanBase, [host]);
  l.masquerade(gw, { randomFully: side === "symmetric" });
  return { host, publicIp: gwIp, lanIp, gateway: gw };
}

/**
 * The usual lab: a public server host and two peers, a on LAN 192.0.2.0/24 and b on 198.51.100.0/24, each
 * placed as asked. The server is not started: tests start it with the options they need.
 */
export async function serverAndPair(l: Lab, a: Side, b: Side, link: LinkOptions = {}) {
  const server = l.host("srv");
  const serverIp = await l.attachPublic(server);
  const pa = await place(l, "a", a, "192.0.2", link);
  const pb = await place(l, "b", b, "198.51.100", link);
  return { server, serverIp, a: pa, b: pb };
}

/**
 * What netpunch may call a symmetric NAT with random ports (MASQUERADE --random-fully): "random", or, when
 * the two mappings it saw happen to lie within a sequential allocator's step (about 1 run in 500), the
 * "sequential" that the classifier's rule then gives. Anything else is a misclassification.
 */
export function classifiedAsRandomPorts(nat: { mapping: string; step?: number }): boolean {
  return (
    nat.mapping === "random" ||
    (nat.mapping === "sequential" && Math.abs(nat.step ?? 0) <= SEQUENTIAL_MAX_STEP)
  );
}
