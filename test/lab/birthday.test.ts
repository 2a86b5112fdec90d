// One peer behind a symmetric NAT with random ports (MASQUERADE --random-fully), the other behind plain
// MASQUERADE, which filters by address and port: plain punching cannot work. With the server's alt port the
// peers learn their NATs' behaviour and connect directly by birthday probing: 256 sockets on the symmetric
// side, up to 2,048 probed ports from the other. The symmetric side's result is the socket that won.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import {
  finish,
  PEER_PORT,
  provePath,
  SERVER_PORT,
  secretFile,
  startPeer,
  startServer,
} from "../../lab/netpunch.ts";
import { classifiedAsRandomPorts, serverAndPair } from "../../lab/placements.ts";

const labs = labPerTest();

async function run(symmetricFirst: boolean) {
  const l = labs.create();
  const secret = secretFile();
  const placed = await serverAndPair(l, "symmetric", "nat");
  const { server, serverIp } = placed;
  const [a, b, gwAIp, gwBIp] = [placed.a.host, placed.b.host, placed.a.publicIp, placed.b.publicIp];
  await startServer(l, server, secret, ["--alt-port", String(SERVER_PORT + 1)]); // no --relay: direct or nothing
  const [first, second] = symmetricFirst ? [a, b] : [b, a];
  const p1 = startPeer(l, first, first === a ? "a" : "b", serverIp, secret);
  await Bun.sleep(1_000);
  const p2 = startPeer(l, second, second === a ? "a" : "b", serverIp, secret);
  const [o1, o2] = await Promise.all([finish(p1), finish(p2)]);
  const [oa, ob] = symmetricFirst ? [o1, o2] : [o2, o1];
  return { l, a, b, gwAIp, gwBIp, serverIp, oa, ob };
}

for (const symmetricFirst of [true, false]) {
  labs.test(
    `symmetric + easy NAT connect directly by birthday probing (${symmetricFirst ? "symmetric" : "easy"} side first)`,
    async () => {
      const { l, a, b, gwAIp, gwBIp, serverIp, oa, ob } = await run(symmetricFirst);
      // The easy side's probes found one of the symmetric side's mappings: nearly always one of its 256 extra
      // sockets', but the punching socket's own mapping toward the easy side is a 257th target, hit first in
      // about 1 run in 257. Then the punching socket holds a direct path to the partner's public address.
      expect(ob.json.via).toBe("birthday");
      if (oa.json.lport === PEER_PORT) expect(oa.json.via).toBe("direct");
      else expect(oa.json.via).toBe("birthday");
      expect([oa.json.rhost, oa.json.rport]).toEqual([gwBIp, PEER_PORT]);
      expect(ob.json.rhost).toBe(gwAIp);
      const [, mapping = "", step = "0"] =
        oa.stderr.match(/our NAT: (\w+)(?: \(step (-?\d+)\))? mapping/) ?? [];
      expect({ mapping, step: Number(step) }).toSatisfy(classifiedAsRandomPorts);
      expect(ob.stderr).toContain("our NAT: independent");
      // The hole is real: from the winning sockets' ports, both ways, after netpunch has exited.
      const aAddr = `${ob.json.rhost}:${ob.json.rport}`;
      const bAddr = `${oa.json.rhost}:${oa.json.rport}`;
      await provePath(l, a, b, bAddr, aAddr, serverIp, { from: oa.json.lport, to: PEER_PORT });
      await provePath(l, b, a, aAddr, bAddr, serverIp, { from: PEER_PORT, to: oa.json.lport });
    },
  );
}
