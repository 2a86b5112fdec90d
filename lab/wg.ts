// WireGuard helpers for lab tests: keys, setconf files, and a netpunch peer running the wireguard hook with
// wireguard-go in a private /run/wireguard.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";
import { peerArgv } from "./netpunch.ts";

export const IFACE = "wgnp";

/** A WireGuard key pair made inside the host's namespace with wg itself. */
export function keyPair(l: Lab, host: Host): { priv: string; pub: string } {
  const r = l.exec(host, ["sh", "-c", 'k=$(wg genkey) && echo "$k" && echo "$k" | wg pubkey']);
  const [priv = "", pub = ""] = r.stdout.trim().split("\n");
  if (r.code !== 0 || priv === "" || pub === "") throw new Error(`wg genkey/pubkey failed: ${r.stderr}`);
  return { priv, pub };
}

/** A `wg setconf` file: our private key, and the partner allowed only its own tunnel address. */
export function setconfFile(
  dir: string,
  name: string,
  priv: string,
  partnerPub: string,
  partnerIp: string,
): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    `[Interface]\nPrivateKey = ${priv}\n\n[Peer]\nPublicKey = ${partnerPub}\nAllowedIPs = ${partnerIp}/32\n`,
    { mode: 0o600 },
  );
  return file;
}

/**
 * wireguard-go and wg find each other through /run/wireguard/IFACE.sock, which `ip netns exec` does not
 * separate: two peers on one machine, both with wgnp, would share the socket. Each peer gets its own mount
 * namespace with a private /run/wireguard, as separate machines would have. `exec` keeps the PID, so the
 * spawned PID is netpunch's and signals reach it directly.
 */
export const PRIVATE_WG_RUN = [
  "unshare",
  "--mount",
  "--propagation",
  "private",
  "sh",
  "-c",
  'mkdir -p /run/wireguard && mount -t tmpfs -o mode=0700 netpunch-lab-wg /run/wireguard && exec "$@"',
  "sh",
];

/** The wireguard hook's options for a lab peer with explicit keys, run by wireguard-go: what every lab test passes. */
export const wgHookArgs = (o: { partnerPub: string; config: string; address: string }): string[] => [
  "--timeout",
  "20",
  "--hook",
  "wireguard",
  "--wg-interface",
  IFACE,
  "--wg-peer",
  o.partnerPub,
  "--wg-up",
  "wireguard-go",
  "--wg-config",
  o.config,
  "--wg-address",
  o.address,
  "--wg-handshake-timeout",
  "20",
];

/** A `connect` peer with the wireguard hook (wgHookArgs, then `extra`), with its own /run/wireguard. */
export function startWgPeer(
  l: Lab,
  host: Host,
  role: "a" | "b",
  serverIp: string,
  secret: string,
  o: { partnerPub: string; config: string; address: string },
  extra: string[] = [],
): LabProcess {
  return l.spawn(host, [
    ...PRIVATE_WG_RUN,
    ...peerArgv(role, serverIp, secret, [...extra, ...wgHookArgs(o)]),
  ]);
}

export const hasLink = (ns: string, dev: string) =>
  Bun.spawnSync(["ip", "-n", ns, "link", "show", dev], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
