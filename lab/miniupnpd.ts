// miniupnpd (Debian's nftables build) as a lab gateway's PCP/NAT-PMP daemon, with the STUN responder it
// needs to believe it may forward ports (see test/lab/portmap.test.ts for why both are needed).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";

const BUN = process.execPath;
export const STUN_PORT = 3478;
/** The fixed HTTP port (device description and SOAP control) of miniupnpd when UPnP-IGD is on. */
export const UPNP_HTTP_PORT = 5000;

export interface MiniupnpdOptions {
  /** Also serve UPnP-IGD (SSDP on lan0 and HTTP on UPNP_HTTP_PORT); default off: PCP and NAT-PMP only. */
  upnp?: boolean;
}
const MINIUPNPD = Bun.which("miniupnpd", { PATH: "/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/bin" });
// CI installs miniupnpd (scripts/setup.sh); without it the test fails with this message, it is not skipped.
export const requireMiniupnpd = (): string => {
  if (!MINIUPNPD) throw new Error("needs miniupnpd: apt-get install --no-install-recommends miniupnpd");
  return MINIUPNPD;
};

/** ARGS: port. Answers every STUN Binding request with XOR-MAPPED-ADDRESS (RFC 5389), whatever else it asks. */
export const STUN_RESPONDER = `
const port = Number(process.argv[1]);
const sock = await Bun.udpSocket({ hostname: "0.0.0.0", port, socket: { data(s, d, rport, raddr) {
  if (d.length < 20 || d[0] !== 0 || d[1] !== 1) return;
  const out = Buffer.alloc(32);
  out.writeUInt16BE(0x0101, 0); out.writeUInt16BE(12, 2); d.copy(out, 4, 4, 20);
  out.writeUInt16BE(0x0020, 20); out.writeUInt16BE(8, 22); out[25] = 1; out.writeUInt16BE(rport ^ 0x2112, 26);
  raddr.split(".").forEach((b, i) => { out[28 + i] = Number(b) ^ [0x21, 0x12, 0xa4, 0x42][i]; });
  s.send(out, rport, raddr);
} } });
console.log("listening " + sock.port);
setTimeout(() => process.exit(0), 50_000);`;

/** Polls a process's stdout or stderr for a pattern, failing with its output on timeout or exit. */
export async function waitOutput(
  p: LabProcess,
  stream: "stdout" | "stderr",
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = p.output()[stream];
    const m = pattern.exec(out);
    if (m) return m[0];
    if (Date.now() > deadline || p.proc.exitCode !== null) {
      const why = p.proc.exitCode !== null ? `exited ${p.proc.exitCode}` : "timeout";
      throw new Error(`waiting for ${pattern} on ${stream}: ${why}\n${JSON.stringify(p.output(), null, 1)}`);
    }
    await Bun.sleep(20);
  }
}

const NFT_TABLES = `table inet filter {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`;

/** Starts miniupnpd in the foreground in `gw` (whose LAN is lanBase.0/24) and waits until it maps ports. */
export async function startMiniupnpd(
  l: Lab,
  gw: Host,
  lanBase: string,
  stunIp: string,
  opts: MiniupnpdOptions = {},
): Promise<LabProcess> {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-miniupnpd-"));
  writeFileSync(join(dir, "tables.nft"), NFT_TABLES);
  const nft = l.exec(gw, ["nft", "-f", join(dir, "tables.nft")]);
  if (nft.code !== 0) throw new Error(`nft -f failed: ${nft.stderr}`);
  // Forward what a mapping DNATs, ahead of masquerade()'s drop of NEW packets from wan0.
  const accept = ["iptables", "-I", "FORWARD", "1", "-i", "wan0", "-m", "conntrack", "--ctstate", "DNAT"];
  const ipt = l.exec(gw, [...accept, "-j", "ACCEPT"]);
  if (ipt.code !== 0) throw new Error(`iptables failed: ${ipt.stderr}`);
  const conf = [
    "ext_ifname=wan0",
    "listening_ip=lan0",
    ...(opts.upnp ? [`http_port=${UPNP_HTTP_PORT}`, "enable_upnp=yes"] : ["http_port=0", "enable_upnp=no"]),
    "enable_natpmp=yes", // NAT-PMP and PCP both: 2.3.x has no separate PCP switch
    "secure_mode=yes",
    "system_uptime=no",
    "uuid=6f1e3c2a-4b5d-4e6f-8a7b-9c0d1e2f3a4b",
    `lease_file=${join(dir, "leases")}`,
    "ext_perform_stun=yes",
    `ext_stun_host=${stunIp}`,
    `ext_stun_port=${STUN_PORT}`,
    "upnp_table_name=filter",
    "upnp_nat_table_name=filter",
    "upnp_forward_chain=miniupnpd",
    "upnp_nat_chain=prerouting_miniupnpd",
    "upnp_nat_postrouting_chain=postrouting_miniupnpd",
    `allow 1024-65535 ${lanBase}.0/24 1024-65535`,
    "deny 0-65535 0.0.0.0/0 0-65535",
    "",
  ].join("\n");
  writeFileSync(join(dir, "miniupnpd.conf"), conf);
  // -d: foreground, logs to stderr; -P: a pid file of its own instead of /var/run/miniupnpd.pid.
  const d = l.spawn(gw, [
    requireMiniupnpd(),
    "-d",
    "-f",
    join(dir, "miniupnpd.conf"),
    "-P",
    join(dir, "pid"),
  ]);
  await waitOutput(d, "stderr", /Port forwarding is now enabled/);
  await waitOutput(d, "stderr", /Listening for NAT-PMP\/PCP traffic on port 5351/);
  if (opts.upnp) await waitOutput(d, "stderr", /HTTP listening on port/);
  return d;
}

/** A STUN responder on `stunHost` (a public lab host) and miniupnpd on `gw`, whose LAN is lanBase.0/24. */
export async function gatewayDaemon(
  l: Lab,
  gw: Host,
  lanBase: string,
  stunHost: Host,
  stunIp: string,
  opts: MiniupnpdOptions = {},
): Promise<LabProcess> {
  const stun = l.spawn(stunHost, [BUN, "-e", STUN_RESPONDER, String(STUN_PORT)]);
  await stun.waitFor(/^listening/m);
  return startMiniupnpd(l, gw, lanBase, stunIp, opts);
}

/** The gateway lab: a public STUN host, a gateway with `lanHosts` LAN hosts (pc0, pc1, ...) on 192.0.2.0/24
 * behind MASQUERADE, and a public host to probe from. No daemon yet: see gatewayDaemon. */
export async function gatewayLab(l: Lab, lanHosts = 1) {
  const stunHost = l.host("stun");
  const stunIp = await l.attachPublic(stunHost);
  const gw = l.host("gw");
  const gwIp = await l.attachPublic(gw);
  const probe = l.host("probe");
  const probeIp = await l.attachPublic(probe);
  const pcs = Array.from({ length: lanHosts }, (_, i) => l.host(`pc${i}`));
  const pcIps = l.lan(gw, "192.0.2", pcs);
  l.masquerade(gw);
  return { stunHost, stunIp, gw, gwIp, probe, probeIp, pcs, pcIps };
}

const UDP_TOOL = join(import.meta.dir, "udp-tool.ts");

/** Sends 5 datagrams "seq N" from probe's fromPort to `to`, 100 ms apart (blocks until sent). */
export function probeSend(l: Lab, probe: Host, fromPort: number, to: { host: string; port: number }): void {
  const r = l.exec(probe, [BUN, UDP_TOOL, "send", String(fromPort), "5", "100", `${to.host}:${to.port}`]);
  if (r.code !== 0) throw new Error(`udp-tool send failed: ${r.stderr}`);
}

/** Listens on `host`:port for 2 s while probe sends to `to`; returns the "from ..." lines that arrived. */
export async function arrivals(
  l: Lab,
  host: Host,
  port: number,
  probe: Host,
  fromPort: number,
  to: { host: string; port: number },
): Promise<string[]> {
  const listener = l.spawn(host, [BUN, UDP_TOOL, "listen", String(port), "100", "2000"]);
  await listener.waitFor(/^listening/m);
  probeSend(l, probe, fromPort, to);
  await listener.exited;
  return (await listener.stdout()).split("\n").filter((line) => line.startsWith("from "));
}
