// Issue 9 item 2: a server on a host with several addresses (a VPS with a floating IP), listening on the
// wildcard, answers each peer from the address it wrote to. Real kernel NAT in namespaces: a reply from the
// host's other address matches no conntrack entry at the peer's gateway and is dropped.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import { finish, secretFile, startPeer, startServer } from "../../lab/netpunch.ts";
import { place } from "../../lab/placements.ts";

const labs = labPerTest();

labs.test("both peers behind NAT reach the server at its second address and connect", async () => {
  const lab = labs.create();
  const secret = secretFile();
  const server = lab.host("srv");
  const primary = await lab.attachPublic(server);
  // A second address on the same link, as a floating IP is: the kernel's default source stays the primary.
  const floating = primary.replace(/\.2$/, ".3");
  lab.exec(server, ["ip", "addr", "add", `${floating}/24`, "dev", "wan0"]);
  const a = await place(lab, "a", "nat", "192.0.2");
  const b = await place(lab, "b", "nat", "198.51.100");
  const srv = await startServer(lab, server, secret);
  const pa = startPeer(lab, a.host, "a", floating, secret);
  const pb = startPeer(lab, b.host, "b", floating, secret);
  const [ra, rb] = await Promise.all([finish(pa, 20_000), finish(pb, 20_000)]);
  expect(ra.json.rhost).toBe(b.publicIp);
  expect(rb.json.rhost).toBe(a.publicIp);
  expect(srv.output().stderr).toContain("paired");
});
