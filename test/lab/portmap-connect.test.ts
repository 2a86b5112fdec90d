// connect --port-map end to end: peer a sits behind a gateway that runs miniupnpd, peer b behind a symmetric
// NAT, and the server has neither an alt port nor a relay. Plain punching cannot work here (b's PINGs come
// from ports a's gateway never sent to); with --port-map, a's gateway forwards a public port to a, b punches
// that port, and the mapping is removed when a exits.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import { gatewayDaemon } from "../../lab/miniupnpd.ts";
import { finish, PEER_PORT, secretFile, startPeer, startServer } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";

const labs = labPerTest();

async function setup() {
  const l = labs.create();
  const secret = secretFile();
  const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(l, "nat", "symmetric");
  const [a, b, gwA, gwAIp] = [placedA.host, placedB.host, placedA.gateway, placedA.publicIp];
  if (!gwA) throw new Error("a sits behind a gateway");
  await gatewayDaemon(l, gwA, "192.0.2", server, serverIp);
  await startServer(l, server, secret);
  const rules = () => l.exec(gwA, ["nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd"]).stdout;
  return { l, a, b, gwAIp, serverIp, secret, rules };
}

labs.test("with --port-map the mapped port is offered, punched and removed at exit", async () => {
  const { l, a, b, gwAIp, serverIp, secret, rules } = await setup();
  const quick = ["--punch-timeout", "6", "--no-relay"];
  const pa = startPeer(l, a, "a", serverIp, secret, ["--port-map", ...quick]);
  await Bun.sleep(1_000);
  expect(rules()).toContain(`dnat ip to 192.0.2.10:${PEER_PORT}`); // mapped while a waits
  const pb = startPeer(l, b, "b", serverIp, secret, quick);
  const [oa, ob] = await Promise.all([finish(pa), finish(pb)]);
  expect(oa.stderr).toMatch(
    /gateway 192\.0\.2\.1 forwards 198\.18\.\d+\.2:\d+ to UDP port 10000 \((pcp|nat-pmp)\)/,
  );
  // miniupnpd maps the same port number when it is free, so the mapped address may equal the public one the
  // server saw (then it is offered once, as "public"); either way it is the mapping that lets b in (see the
  // control below).
  expect(["mapped", "public"]).toContain(ob.json.candidate);
  expect(ob.json.rhost).toBe(gwAIp);
  expect(oa.json.rhost).not.toBe(gwAIp);
  expect(rules()).not.toContain("dnat ip to 192.0.2.10"); // a removed its mapping when it exited
});

labs.test("without --port-map the same pair cannot connect directly (the control)", async () => {
  const { l, a, b, serverIp, secret } = await setup();
  const quick = ["--punch-timeout", "4", "--no-relay"];
  const pa = startPeer(l, a, "a", serverIp, secret, quick);
  const pb = startPeer(l, b, "b", serverIp, secret, quick);
  expect(await pa.exited).toBe(1);
  expect(await pb.exited).toBe(1);
  expect(pa.output().stderr).toContain("[E_PUNCH_FAILED]");
});
