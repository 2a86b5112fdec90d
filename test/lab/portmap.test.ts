// mapPort() against a real gateway daemon: Debian's miniupnpd (nftables build, 2.3.x) in a lab gateway
// namespace, a LAN host asking it over PCP or NAT-PMP, and a public host checking that the mapping really
// forwards, and no longer does after remove(). Needs root and miniupnpd:
// `apt-get install -y --no-install-recommends miniupnpd`, then `bun test test/lab/portmap.test.ts`.
//
// Two things the lab has to provide for miniupnpd:
// - A STUN server. Every address the lab may use (198.18.0.0/15, TEST-NETs) is on miniupnpd's reserved list,
//   so with the gateway's own WAN address it refuses all mappings ("Reserved / private IP address ... on ext
//   interface wan0: Port forwarding is impossible"), and ext_ip= with such an address is a config error.
//   With ext_perform_stun=yes it asks a STUN server instead; when all four of its probes come back with the
//   interface address and port unchanged it concludes "unrestricted full-cone NAT 1:1" and enables port
//   forwarding. A tiny responder on a public lab host (below) answers them.
// - Its nftables tables. Debian's /etc/miniupnpd/nft_init.sh does not work (it sources the iptables
//   flavour's miniupnpd_functions.sh, so $NFT and the table and chain names are empty: "-f: not found"),
//   and would set the forward policy to drop anyway; the tables are created here with the names the config
//   declares.
// The lab's masquerade() firewall drops NEW packets from wan0; a router that forwards ports accepts those
// it DNATs (OpenWrt: "ct status dnat accept"), so the gateway gets that rule too. Without a mapping
// nothing is DNATed and the firewall still drops.
import { describe, expect } from "bun:test";
import { join } from "node:path";
import { type Host, type Lab, type LabProcess, labPerTest } from "../../lab/lab.ts";
import { arrivals, gatewayDaemon, gatewayLab, probeSend, waitOutput } from "../../lab/miniupnpd.ts";

const BUN = process.execPath;
const PORTMAP = join(import.meta.dir, "../../src/portmap/index.ts");
const LOCAL_PORT = 10000;

// Small programs run with `bun -e CODE ARGS...` inside a namespace (process.argv is [bun, ...ARGS]).

/**
 * ARGS: local-port protocols run-ms. Calls mapPort with its defaults (gateway from /proc/net/route, 1.5 s),
 * prints {"mapping": ..., "ms": N}, then listens on local-port ("listening PORT") and prints
 * "from ADDR PORT PAYLOAD" per datagram. On SIGTERM, or after run-ms, it calls remove() and prints "removed".
 */
const CLIENT = `
const { mapPort } = await import(${JSON.stringify(PORTMAP)});
const [localPort, protocols, runMs] = process.argv.slice(1);
const t0 = performance.now();
const m = await mapPort({ localPort: Number(localPort), protocols: protocols.split(","), ttlSeconds: 600 });
const ms = Math.round(performance.now() - t0);
const { remove, ...mapping } = m ?? {};
console.log(JSON.stringify({ mapping: m ? mapping : null, ms }));
if (!m) process.exit(0);
const sock = await Bun.udpSocket({ hostname: "0.0.0.0", port: Number(localPort), socket: {
  data(_s, d, port, addr) { console.log("from " + addr + " " + port + " " + d.toString()); } } });
console.log("listening " + sock.port);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  sock.close();
  await m.remove();
  console.log("removed");
  process.exit(0);
};
process.on("SIGTERM", stop);
setTimeout(stop, Number(runMs));`;

interface ClientReport {
  mapping: {
    external: { host: string; port: number };
    protocol: string;
    gateway: string;
    lifetimeSeconds: number;
  } | null;
  ms: number;
}

const labs = labPerTest();

/** The gateway lab (see gatewayLab), with the STUN responder and miniupnpd running unless daemon is false. */
async function topology(opts: { daemon?: boolean; lanHosts?: number } = {}) {
  const l = labs.create();
  const t = await gatewayLab(l, opts.lanHosts ?? 1);
  const daemon =
    (opts.daemon ?? true) ? await gatewayDaemon(l, t.gw, "192.0.2", t.stunHost, t.stunIp) : undefined;
  return { l, ...t, daemon };
}

function startClient(l: Lab, host: Host, protocols: string, runMs = 30_000): LabProcess {
  return l.spawn(host, [BUN, "-e", CLIENT, String(LOCAL_PORT), protocols, String(runMs)]);
}

async function report(client: LabProcess): Promise<ClientReport> {
  const line = await waitOutput(client, "stdout", /^\{.*\}$/m, 10_000);
  return JSON.parse(line) as ClientReport;
}

function upnpRules(l: Lab, gw: Host): string {
  return l.exec(gw, ["nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd"]).stdout;
}

describe("mapPort against miniupnpd in the gateway", () => {
  for (const protocol of ["pcp", "nat-pmp"] as const) {
    labs.test(
      `${protocol}: maps the port, forwards through the firewall, and remove() closes it again`,
      async () => {
        const { l, gw, gwIp, probe, probeIp, pcs } = await topology();
        const pc = pcs[0] as Host;
        const publicPort = { host: gwIp, port: LOCAL_PORT };

        // Without a mapping the gateway's firewall drops what the public host sends.
        expect(await arrivals(l, pc, LOCAL_PORT, probe, 20001, publicPort)).toEqual([]);

        const client = startClient(l, pc, protocol);
        const r = await report(client);
        expect(r.mapping).not.toBeNull();
        const m = r.mapping as NonNullable<ClientReport["mapping"]>;
        expect(m.protocol).toBe(protocol);
        expect(m.external).toEqual({ host: gwIp, port: LOCAL_PORT }); // the local port was free outside too
        expect(m.gateway).toBe("192.0.2.1");
        expect(m.lifetimeSeconds).toBe(600);
        expect(upnpRules(l, gw)).toContain(`dport ${m.external.port} dnat ip to 192.0.2.10:${LOCAL_PORT}`);

        // Through the mapping it arrives, from the public host's own address (DNAT, no SNAT).
        await waitOutput(client, "stdout", /^listening \d+$/m, 5_000);
        probeSend(l, probe, 20002, m.external);
        const line = await waitOutput(client, "stdout", /^from \S+ 20002 seq \d+$/m, 5_000);
        expect(line.split(" ")[1]).toBe(probeIp);

        // Exit: SIGTERM -> remove() -> the gateway drops the rule, and new flows are dropped again. (A flow
        // already in conntrack would keep its DNAT until it times out: that is the kernel, not the mapping.)
        client.kill("SIGTERM");
        await waitOutput(client, "stdout", /^removed$/m, 5_000);
        expect(await client.exited).toBe(0);
        expect(upnpRules(l, gw)).not.toContain("dnat");
        expect(await arrivals(l, pc, LOCAL_PORT, probe, 20003, m.external)).toEqual([]);
      },
    );
  }

  labs.test(
    "two LAN hosts, same local port: the second gets another public port, and each removes only its own",
    async () => {
      const { l, gw, gwIp, probe, probeIp, pcs } = await topology({ lanHosts: 2 });
      const [pc0, pc1] = pcs as [Host, Host];
      const c0 = startClient(l, pc0, "pcp");
      const m0 = (await report(c0)).mapping;
      const c1 = startClient(l, pc1, "nat-pmp");
      const m1 = (await report(c1)).mapping;
      expect(m0?.external).toEqual({ host: gwIp, port: LOCAL_PORT });
      expect(m1?.external.host).toBe(gwIp);
      expect(m1?.external.port).not.toBe(LOCAL_PORT);
      const second = m1?.external ?? { host: gwIp, port: 0 };
      await waitOutput(c1, "stdout", /^listening \d+$/m, 5_000);

      c0.kill("SIGTERM");
      await waitOutput(c0, "stdout", /^removed$/m, 5_000);
      const rules = upnpRules(l, gw);
      expect(rules).not.toContain(`dnat ip to 192.0.2.10:`);
      expect(rules).toContain(`dport ${second.port} dnat ip to 192.0.2.11:${LOCAL_PORT}`);
      probeSend(l, probe, 20004, second);
      const line = await waitOutput(c1, "stdout", /^from \S+ 20004 seq \d+$/m, 5_000);
      expect(line.split(" ")[1]).toBe(probeIp);

      c1.kill("SIGTERM");
      await waitOutput(c1, "stdout", /^removed$/m, 5_000);
      expect(upnpRules(l, gw)).not.toContain("dnat");
    },
  );
});

describe("mapPort without a daemon on the gateway", () => {
  labs.test("undefined after one round trip: the gateway answers ICMP port unreachable", async () => {
    const { l, pcs } = await topology({ daemon: false });
    const client = startClient(l, pcs[0] as Host, "pcp,nat-pmp");
    const r = await report(client);
    expect(r.mapping).toBeNull();
    expect(await client.exited).toBe(0);
  });

  labs.test("undefined after timeoutMs when the gateway stays silent", async () => {
    const { l, gw, pcs } = await topology({ daemon: false });
    // A gateway that drops instead of answering ICMP: the whole timeout (default 1.5 s) is spent.
    const drop = l.exec(gw, ["iptables", "-I", "INPUT", "1", "-p", "udp", "--dport", "5351", "-j", "DROP"]);
    expect(drop.code).toBe(0);
    const client = startClient(l, pcs[0] as Host, "pcp,nat-pmp");
    const r = await report(client);
    expect(r.mapping).toBeNull();
    expect(r.ms).toBeGreaterThanOrEqual(1400);
  });
});
