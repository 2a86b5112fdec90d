// The compiled linux-x64 binary end to end in the NAT lab: the server and both peers are the binary (no Bun
// on the path it takes), with the print hook and then the openvpn hook carrying ping through two NATs.
import { expect } from "bun:test";
import { labPerTest } from "../../lab/lab.ts";
import {
  connectArgs,
  openvpnHook,
  openvpnStaticKey,
  SERVER_PORT,
  secretFile,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { compiled } from "../support/binary.ts";

const labs = labPerTest();

labs.test("compiled binary: server and two peers behind separate NATs, print then openvpn", async () => {
  const bin = await compiled("linux-x64");
  const l = labs.create();
  const secret = secretFile();
  const key = openvpnStaticKey();
  const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(l, "nat", "nat");
  const [a, b, gwAIp, gwBIp] = [placedA.host, placedB.host, placedA.publicIp, placedB.publicIp];
  const srv = l.spawn(server, [bin, "serve", "--listen", `0.0.0.0:${SERVER_PORT}`, "--secret-file", secret]);
  await waitStderr(srv, /listening on UDP/);
  const peer = (h: typeof a, role: "a" | "b", extra: string[]) =>
    l.spawn(h, [bin, ...connectArgs(role, serverIp, secret), ...extra]);

  // 1. print: the result line.
  const pa = peer(a, "a", ["--json"]);
  await Bun.sleep(1_000);
  const pb = peer(b, "b", ["--json"]);
  expect(await pa.exited).toBe(0);
  expect(await pb.exited).toBe(0);
  expect(JSON.parse(await pa.stdout()).rhost).toBe(gwBIp);
  expect(JSON.parse(await pb.stdout()).rhost).toBe(gwAIp);

  // 2. openvpn through the hole, then Ctrl-C.
  const ovpn = (local: string, remote: string) => openvpnHook(key, local, remote);
  const va = peer(a, "a", ovpn("198.18.200.1", "198.18.200.2"));
  const vb = peer(b, "b", ovpn("198.18.200.2", "198.18.200.1"));
  await Promise.all([va, vb].map((p) => waitStderr(p, /Initialization Sequence Completed/, 30_000)));
  expect(l.exec(a, ["ping", "-n", "-c", "3", "-W", "2", "198.18.200.2"]).stdout).toMatch(/[1-3] received/);
  va.kill("SIGINT");
  vb.kill("SIGINT");
  expect(await va.exited).toBe(0);
  expect(await vb.exited).toBe(0);
  for (const h of [a, b]) expect(l.exec(l.internet, ["ip", "netns", "pids", h.ns]).stdout.trim()).toBe("");
});
