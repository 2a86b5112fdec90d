// The openvpn hook across two real NATs, with the real openvpn from Debian and a static key: ping through
// the tunnel both ways, --loop re-punching after the tunnel process dies, Ctrl-C leaving nothing behind, and
// proxy mode (openvpn talks to netpunch on loopback; netpunch carries its datagrams over the punched path).
import { expect } from "bun:test";
import { type Host, type Lab, type LabProcess, labPerTest } from "../../lab/lab.ts";
import {
  openvpnHook,
  openvpnStaticKey,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";

const labs = labPerTest();

const TUN_A = "198.18.200.1";
const TUN_B = "198.18.200.2";
const READY = /Initialization Sequence Completed/g;

async function twoNats() {
  const l = labs.create();
  const secret = secretFile();
  const key = openvpnStaticKey();
  const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
  await startServer(l, server, secret);
  const peer = (h: Host, role: "a" | "b", local: string, remote: string, extra: string[] = []) =>
    startPeer(l, h, role, serverIp, secret, [...extra, ...openvpnHook(key, local, remote, 4)]);
  return { l, a: a.host, b: b.host, peer };
}

const tunnelUp = (p: LabProcess, times = 1) =>
  waitStderr(p, new RegExp(`(${READY.source}[^]*){${times}}`), 30_000);

function pingThrough(l: Lab, from: Host, to: string) {
  const r = l.exec(from, ["ping", "-n", "-c", "3", "-W", "2", to]);
  expect(r.stdout).toMatch(/[1-3] received/);
}

function nothingLeft(l: Lab, ...hosts: Host[]) {
  for (const h of hosts) {
    expect(l.exec(l.internet, ["ip", "netns", "pids", h.ns]).stdout.trim()).toBe("");
    expect(l.exec(h, ["ip", "link", "show", "tun0"]).code).not.toBe(0); // openvpn removed its tun device
  }
}

labs.test(
  "openvpn with a static key through two NATs carries ping both ways; Ctrl-C stops it and exits 0",
  async () => {
    const { l, a, b, peer } = await twoNats();
    const pa = peer(a, "a", TUN_A, TUN_B);
    await Bun.sleep(1_000);
    const pb = peer(b, "b", TUN_B, TUN_A);
    await Promise.all([tunnelUp(pa), tunnelUp(pb)]);
    pingThrough(l, a, TUN_B);
    pingThrough(l, b, TUN_A);
    expect(pa.output().stderr).toMatch(/\[openvpn\] .*UDPv4 link remote: \[AF_INET\]198\.18\.\d+\.2:10000/);
    pa.kill("SIGINT");
    pb.kill("SIGINT");
    expect(await pa.exited).toBe(0); // connected, then stopped on request
    expect(await pb.exited).toBe(0);
    expect(pa.output().stderr).toContain("openvpn stopped");
    nothingLeft(l, a, b);
  },
);

labs.test(
  "--loop: when the tunnel process dies, netpunch punches again and the new tunnel carries traffic",
  async () => {
    const { l, a, b, peer } = await twoNats();
    const pa = peer(a, "a", TUN_A, TUN_B, ["--loop"]);
    const pb = peer(b, "b", TUN_B, TUN_A, ["--loop"]);
    await Promise.all([tunnelUp(pa), tunnelUp(pb)]);
    pingThrough(l, a, TUN_B);

    const pid = Number(/started openvpn \(pid (\d+)\)/.exec(pa.output().stderr)?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL"); // a crash; B's openvpn notices by --ping-exit and ends too
    await Promise.all([tunnelUp(pa, 2), tunnelUp(pb, 2)]);
    expect(pa.output().stderr).toMatch(/\[E_HOOK\] hook "openvpn" failed: openvpn exited .*retrying in 1 s/);
    expect(pb.output().stderr).toContain("the hooks have ended; punching again");
    pingThrough(l, a, TUN_B);
    pingThrough(l, b, TUN_A);

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await pa.exited).toBe(0);
    expect(await pb.exited).toBe(0);
    nothingLeft(l, a, b);
  },
);

labs.test(
  "--proxy: openvpn binds a loopback port and talks to netpunch, which carries its datagrams through both NATs",
  async () => {
    const { l, a, b, peer } = await twoNats();
    const pa = peer(a, "a", TUN_A, TUN_B, ["--proxy"]);
    const pb = peer(b, "b", TUN_B, TUN_A, ["--proxy"]);
    await Promise.all([tunnelUp(pa), tunnelUp(pb)]);
    pingThrough(l, a, TUN_B);
    pingThrough(l, b, TUN_A);
    // openvpn's peer is netpunch's loopback port, not the partner: the tunnel never sees the NAT's address.
    expect(pa.output().stderr).toMatch(/\[openvpn\] .*UDPv4 link remote: \[AF_INET\]127\.0\.0\.1:\d+/);
    expect(pa.output().stderr).toMatch(
      /proxy: the tunnel binds 127\.0\.0\.1:\d+ and sends to 127\.0\.0\.1:\d+/,
    );
    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await pa.exited).toBe(0);
    expect(await pb.exited).toBe(0);
    nothingLeft(l, a, b);
  },
);
