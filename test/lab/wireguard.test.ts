// The wireguard hook across two real NATs: each peer punches, starts wireguard-go (no kernel module here),
// points it at the partner through the hole, and the tunnel carries pings both ways. Ctrl-C then stops
// everything it started. Needs root: `bun test test/lab/wireguard.test.ts`.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import {
  emptyWithin,
  exitWithin,
  PEER_PORT,
  secretFile,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { hasLink, IFACE, keyPair, setconfFile, startWgPeer } from "../../lab/wg.ts";

const TUNNEL = { a: "198.18.201.1", b: "198.18.201.2" } as const;

const labs = labPerTest();

labs.test(
  "wireguard-go through the hole between two MASQUERADE NATs: ping both ways, Ctrl-C cleans up",
  async () => {
    const lab = labs.create();
    const secret = secretFile();
    const keys = labs.tempDir("netpunch-wg-");

    const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(lab, "nat", "nat");
    const [a, b] = [placedA.host, placedB.host];
    await startServer(lab, server, secret);

    const ka = keyPair(lab, a);
    const kb = keyPair(lab, b);
    const pa = startWgPeer(lab, a, "a", serverIp, secret, {
      partnerPub: kb.pub,
      config: setconfFile(keys, "a", ka.priv, kb.pub, TUNNEL.b),
      address: `${TUNNEL.a}/24`,
    });
    const pb = startWgPeer(lab, b, "b", serverIp, secret, {
      partnerPub: ka.pub,
      config: setconfFile(keys, "b", kb.priv, ka.pub, TUNNEL.a),
      address: `${TUNNEL.b}/24`,
    });
    await Promise.all([waitStderr(pa, /handshake with/, 30_000), waitStderr(pb, /handshake with/, 30_000)]);
    expect(pa.output().stderr).toContain(`${IFACE}: listen-port ${PEER_PORT}, peer endpoint `);

    const pingAB = lab.exec(a, ["ping", "-c", "3", "-W", "2", TUNNEL.b]);
    expect(pingAB.code, pingAB.stdout + pingAB.stderr).toBe(0);
    const pingBA = lab.exec(b, ["ping", "-c", "3", "-W", "2", TUNNEL.a]);
    expect(pingBA.code, pingBA.stdout + pingBA.stderr).toBe(0);

    pa.kill("SIGINT");
    pb.kill("SIGINT");
    const [codeA, codeB] = await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
    const log = `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`;
    // All at once, so one failure report shows the whole state after the interrupt.
    expect(
      {
        exit: [codeA, codeB],
        leftInNamespace: [await emptyWithin(a.ns), await emptyWithin(b.ns)],
        wgInterface: [hasLink(a.ns, IFACE), hasLink(b.ns, IFACE)],
      },
      log,
    ).toEqual({ exit: [0, 0], leftInNamespace: ["", ""], wgInterface: [false, false] });
    expect(pa.output().stderr).toMatch(/started wireguard-go \(pid \d+\)/);
  },
);
