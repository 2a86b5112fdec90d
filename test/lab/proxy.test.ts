// Proxy mode across real NATs: each peer punches, keeps its socket (--proxy) and starts wireguard-go pointed
// at netpunch's loopback endpoint; the tunnel's datagrams cross as DATA over the punched path (direct, or
// through the relay), pings go both ways, keep going after a gateway forgets its conntrack entries, and
// follow a gateway that maps a new port. Ctrl-C then stops everything. Needs root: `bun test --timeout 60000 test/lab/proxy.test.ts`.
import { expect } from "bun:test";
import { type Host, type Lab, labPerTest } from "../../lab/lab.ts";
import { emptyWithin, exitWithin, secretFile, startServer, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { hasLink, IFACE, keyPair, setconfFile, startWgPeer } from "../../lab/wg.ts";

const TUNNEL = { a: "198.18.201.1", b: "198.18.201.2" } as const;

const labs = labPerTest();

/** `connect --proxy --hook wireguard` (explicit keys) in its own mount namespace for /run/wireguard. */
function startProxied(
  lab: Lab,
  serverIp: string,
  secret: string,
  host: Host,
  role: "a" | "b",
  partnerPub: string,
  config: string,
  address: string,
) {
  return startWgPeer(lab, host, role, serverIp, secret, { partnerPub, config, address }, ["--proxy"]);
}

const ping = (lab: Lab, from: Host, to: string) => {
  const r = lab.exec(from, ["ping", "-c", "3", "-W", "2", to]);
  return r.code === 0 ? "ok" : r.stdout + r.stderr;
};

/** Where the punch ends: across two MASQUERADE NATs, or on the relay between two symmetric ones. */
const CASES = [
  {
    name: "two MASQUERADE NATs (direct)",
    side: "nat",
    serverArgs: [] as string[],
    via: "direct",
    flush: true,
  },
  {
    name: "two symmetric NATs (through the relay)",
    side: "symmetric",
    serverArgs: ["--relay", "--relay-ports", "20000-20009"],
    via: "relay",
    flush: true,
  },
] as const;

for (const c of CASES)
  labs.test(
    `connect --proxy --hook wireguard between ${c.name}: ping both ways${c.flush ? ", also after a conntrack flush" : ""}`,
    async () => {
      const lab = labs.create();
      const secret = secretFile();
      const keys = labs.tempDir("netpunch-proxy-");
      const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(lab, c.side, c.side);
      const [a, b] = [placedA.host, placedB.host];
      await startServer(lab, server, secret, [...c.serverArgs]);

      const ka = keyPair(lab, a);
      const kb = keyPair(lab, b);
      const pa = startProxied(
        lab,
        serverIp,
        secret,
        a,
        "a",
        kb.pub,
        setconfFile(keys, "a", ka.priv, kb.pub, TUNNEL.b),
        `${TUNNEL.a}/24`,
      );
      const pb = startProxied(
        lab,
        serverIp,
        secret,
        b,
        "b",
        ka.pub,
        setconfFile(keys, "b", kb.priv, ka.pub, TUNNEL.a),
        `${TUNNEL.b}/24`,
      );
      await Promise.all([waitStderr(pa, /handshake with/, 30_000), waitStderr(pb, /handshake with/, 30_000)]);
      // WireGuard talks to netpunch on loopback, not to the partner: only the proxy can carry the handshake.
      expect(pa.output().stderr).toMatch(
        /proxy: the tunnel binds 127\.0\.0\.1:\d+ and sends to 127\.0\.0\.1:\d+; netpunch carries it to \S+ \((\w+)\)/,
      );
      expect(pa.output().stderr.match(/netpunch carries it to \S+ \((\w+)\)/)?.[1]).toBe(c.via);
      expect(pa.output().stderr).toMatch(
        new RegExp(`${IFACE}: listen-port \\d+, peer endpoint 127\\.0\\.0\\.1:`),
      );

      expect([ping(lab, a, TUNNEL.b), ping(lab, b, TUNNEL.a)]).toEqual(["ok", "ok"]);
      // a's gateway forgets every mapping: a's next datagram makes a new one, and the tunnel goes on. On the
      // relay the symmetric NAT's new mapping has a new port, which the relay has not bound: a's proxy
      // notices its relay probes go unanswered and binds again from there (README, "Our own rebinding").
      if (c.flush) {
        if (!placedA.gateway) throw new Error("a has no gateway");
        lab.flushConntrack(placedA.gateway);
        if (c.via === "relay")
          await waitStderr(pa, /proxy: the relay stopped answering; binding there again/, 15_000);
        expect([ping(lab, a, TUNNEL.b), ping(lab, b, TUNNEL.a)]).toEqual(["ok", "ok"]);
      }

      pa.kill("SIGINT");
      pb.kill("SIGINT");
      const [codeA, codeB] = await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
      const log = `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`;
      expect(
        {
          exit: [codeA, codeB],
          leftInNamespace: [await emptyWithin(a.ns), await emptyWithin(b.ns)],
          wgInterface: [hasLink(a.ns, IFACE), hasLink(b.ns, IFACE)],
        },
        log,
      ).toEqual({ exit: [0, 0], leftInNamespace: ["", ""], wgInterface: [false, false] });
    },
  );

labs.test(
  "a real NAT rebinding (the gateway maps a new random port) is followed: the public partner moves to it and pings go on",
  async () => {
    const lab = labs.create();
    const secret = secretFile();
    const keys = labs.tempDir("netpunch-proxy-rebind-");
    // b is public, so a's packets from a new port reach it (a NAT in front of b would filter them).
    const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(lab, "nat", "public");
    const [a, b] = [placedA.host, placedB.host];
    await startServer(lab, server, secret);
    const ka = keyPair(lab, a);
    const kb = keyPair(lab, b);
    const pa = startProxied(
      lab,
      serverIp,
      secret,
      a,
      "a",
      kb.pub,
      setconfFile(keys, "a", ka.priv, kb.pub, TUNNEL.b),
      `${TUNNEL.a}/24`,
    );
    const pb = startProxied(
      lab,
      serverIp,
      secret,
      b,
      "b",
      ka.pub,
      setconfFile(keys, "b", kb.priv, ka.pub, TUNNEL.a),
      `${TUNNEL.b}/24`,
    );
    await Promise.all([waitStderr(pa, /handshake with/, 30_000), waitStderr(pb, /handshake with/, 30_000)]);
    expect([ping(lab, a, TUNNEL.b), ping(lab, b, TUNNEL.a)]).toEqual(["ok", "ok"]);

    // From now on a's gateway picks a random source port for a new mapping; forgetting the old one makes
    // a's next datagram leave from a new public port.
    const gw = placedA.gateway;
    if (!gw) throw new Error("a has no gateway");
    const rule = [
      "iptables",
      "-t",
      "nat",
      "-I",
      "POSTROUTING",
      "1",
      "-o",
      "wan0",
      "-j",
      "MASQUERADE",
      "--random-fully",
    ];
    const r = lab.exec(gw, rule);
    expect(r.code, r.stderr).toBe(0);
    lab.flushConntrack(gw);
    expect([ping(lab, a, TUNNEL.b), ping(lab, b, TUNNEL.a)]).toEqual(["ok", "ok"]);
    await waitStderr(pb, /the partner moved to \S+ \(NAT rebinding\); following/, 5_000);

    pa.kill("SIGINT");
    pb.kill("SIGINT");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
    expect([await emptyWithin(a.ns), await emptyWithin(b.ns)]).toEqual(["", ""]);
  },
);
