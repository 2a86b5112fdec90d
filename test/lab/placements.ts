// Where a peer sits: on the internet side, behind one NAT, behind two (carrier-grade), or behind a symmetric
// NAT. Shared by the lab tests and the placement-matrix benchmark.
import type { Host, Lab, LinkOptions } from "./lab.ts";

export type Side = "public" | "nat" | "double" | "symmetric";

/** Puts a peer host on the internet side, behind one NAT, behind two (carrier-grade) or behind a symmetric NAT. */
export async function place(
  l: Lab,
  name: string,
  side: Side,
  lanBase: string,
  link: LinkOptions = {},
): Promise<{ host: Host; publicIp: string; lanIp: string }> {
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
    return { host, publicIp: cgnIp, lanIp };
  }
  const gw = l.host(`gw${name}`);
  const gwIp = await l.attachPublic(gw, link);
  const [lanIp = ""] = l.lan(gw, lanBase, [host]);
  l.masquerade(gw, { randomFully: side === "symmetric" });
  return { host, publicIp: gwIp, lanIp };
}
