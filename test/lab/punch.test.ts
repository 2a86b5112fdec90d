// netpunch across real kernel NAT: the real CLI (server and both peers as separate processes) in network
// namespaces behind iptables MASQUERADE gateways. Needs root (CI runs as root): `bun test test/lab`.
import { describe, expect } from "bun:test";
import { type LinkOptions, labPerTest } from "../../lab/lab.ts";
import { finish, PEER_PORT, provePath, secretFile, startPeer, startServer } from "../../lab/netpunch.ts";
import { place, type Side } from "../../lab/placements.ts";

const GAP_MS = 3_000; // the second peer starts several seconds after the first

const labs = labPerTest();

async function runPair(sides: [Side, Side], opts: { link?: LinkOptions; firstRole?: "a" | "b" } = {}) {
  const lab = labs.create();
  const secret = secretFile();
  const server = lab.host("srv");
  const serverIp = await lab.attachPublic(server);
  const a = await place(lab, "a", sides[0], "192.0.2", opts.link);
  const b = await place(lab, "b", sides[1], "198.51.100", opts.link);
  await startServer(lab, server, secret);
  const [first, second] = opts.firstRole === "b" ? [b, a] : [a, b];
  const firstRole = opts.firstRole ?? "a";
  const p1 = startPeer(lab, first.host, firstRole, serverIp, secret);
  await Bun.sleep(GAP_MS);
  const p2 = startPeer(lab, second.host, firstRole === "a" ? "b" : "a", serverIp, secret);
  const [o1, o2] = await Promise.all([finish(p1), finish(p2)]);
  const [ra, rb] = firstRole === "a" ? [o1.json, o2.json] : [o2.json, o1.json];
  return { lab, a, b, ra, rb, serverIp };
}

async function provedBothWays(r: Awaited<ReturnType<typeof runPair>>) {
  const { lab: l, a, b, ra, rb, serverIp } = r;
  await provePath(l, a.host, b.host, `${ra.rhost}:${ra.rport}`, `${rb.rhost}:${rb.rport}`, serverIp);
  await provePath(l, b.host, a.host, `${rb.rhost}:${rb.rport}`, `${ra.rhost}:${ra.rport}`, serverIp);
}

describe("punching through real NAT, second peer 3 s late", () => {
  labs.test("both public", async () => {
    const r = await runPair(["public", "public"]);
    expect([r.ra.rhost, r.ra.rport]).toEqual([r.b.publicIp, PEER_PORT]);
    expect([r.rb.rhost, r.rb.rport]).toEqual([r.a.publicIp, PEER_PORT]);
    await provedBothWays(r);
  });

  labs.test("one public, one behind NAT", async () => {
    const r = await runPair(["public", "nat"]);
    expect(r.ra.rhost).toBe(r.b.publicIp);
    expect(r.rb.rhost).toBe(r.a.publicIp);
    expect(r.ra.via).toBe("direct");
    await provedBothWays(r);
  });

  labs.test("both behind separate NATs (MASQUERADE)", async () => {
    const r = await runPair(["nat", "nat"]);
    expect([r.ra.rhost, r.ra.rport]).toEqual([r.b.publicIp, PEER_PORT]); // MASQUERADE preserves the port
    expect([r.rb.rhost, r.rb.rport]).toEqual([r.a.publicIp, PEER_PORT]);
    expect(r.ra.candidate).toBe("public");
    await provedBothWays(r);
  });

  labs.test("one behind two NATs in series (carrier-grade), the other behind NAT", async () => {
    const r = await runPair(["double", "nat"]);
    expect(r.ra.rhost).toBe(r.b.publicIp);
    expect(r.rb.rhost).toBe(r.a.publicIp);
    await provedBothWays(r);
  });

  labs.test(
    "one public, one behind a symmetric NAT (MASQUERADE --random-fully), symmetric side first",
    async () => {
      const r = await runPair(["public", "symmetric"], { firstRole: "b" });
      expect(r.ra.rhost).toBe(r.b.publicIp);
      // The symmetric NAT mapped a new port toward the partner: what worked is the source PING came from.
      expect(r.ra.candidate).toBe("reflexive");
      expect(r.rb.rhost).toBe(r.a.publicIp);
      await provedBothWays(r);
    },
  );

  labs.test("both behind separate NATs with 25 ms delay and 20% loss on each gateway link", async () => {
    const r = await runPair(["nat", "nat"], { link: { delayMs: 25, lossPercent: 20 } });
    expect(r.ra.rhost).toBe(r.b.publicIp);
    expect(r.rb.rhost).toBe(r.a.publicIp);
    expect(r.ra.rttMs).toBeGreaterThanOrEqual(100); // two delayed links each way: the path really crossed them
    await provedBothWays(r);
  });
});

labs.test("both behind the SAME NAT without hairpinning: they meet on the LAN", async () => {
  const lab = labs.create();
  const secret = secretFile();
  const server = lab.host("srv");
  const serverIp = await lab.attachPublic(server);
  const gw = lab.host("gw");
  await lab.attachPublic(gw);
  const a = lab.host("a");
  const b = lab.host("b");
  const [aIp = "", bIp = ""] = lab.lan(gw, "203.0.113", [a, b]);
  lab.masquerade(gw);
  await startServer(lab, server, secret);
  const pa = startPeer(lab, a, "a", serverIp, secret);
  await Bun.sleep(GAP_MS);
  const pb = startPeer(lab, b, "b", serverIp, secret);
  const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
  expect([oa.json.rhost, oa.json.rport, oa.json.via]).toEqual([bIp, PEER_PORT, "lan"]);
  expect([ob.json.rhost, ob.json.rport, ob.json.via]).toEqual([aIp, PEER_PORT, "lan"]);
  await provePath(lab, a, b, `${bIp}:${PEER_PORT}`, `${aIp}:${PEER_PORT}`);
});
