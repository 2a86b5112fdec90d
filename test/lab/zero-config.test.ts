// Zero-config tunnels with real programs between two lab hosts: each side's hook makes its keys, offers them
// (here through files, where a punch carries them through the rendezvous), pins the partner's, and brings
// the tunnel up; ping crosses it both ways. A partner that comes back with another key is refused.
// Needs root: `bun test --timeout 60000 test/lab/zero-config.test.ts`.
import { expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Host, type Lab, type LabProcess, labPerTest } from "../../lab/lab.ts";
import { BUN, emptyWithin, exitWithin, waitStderr } from "../../lab/netpunch.ts";
import { hasLink, PRIVATE_WG_RUN } from "../../lab/wg.ts";

const PEER_SCRIPT = join(import.meta.dir, "zero-config-peer.ts");
const TUNNEL_ID = "lab/office";
const WG = { iface: "np-office", port: 51820, a: "198.18.201.1", b: "198.18.201.2" } as const;
const OVPN = { iface: "np-backup", port: 1194, a: "198.18.202.1", b: "198.18.202.2" } as const;

const labs = labPerTest();

interface Side {
  host: Host;
  ip: string;
  state: string;
}

/** Two hosts on the lab's internet (each on its own veth to the router), each with its own state directory. */
async function twoHosts(lab: Lab, dir: string): Promise<{ a: Side; b: Side }> {
  const ha = lab.host("a");
  const hb = lab.host("b");
  const [ipa, ipb] = [await lab.attachPublic(ha), await lab.attachPublic(hb)];
  return {
    a: { host: ha, ip: ipa, state: join(dir, "state-a") },
    b: { host: hb, ip: ipb, state: join(dir, "state-b") },
  };
}

function startSide(
  lab: Lab,
  dir: string,
  hook: string,
  role: "a" | "b",
  me: Side,
  partner: Side,
  port: number,
  hookArgs: string[],
  round: number,
  offerIn?: string,
): LabProcess {
  const other = role === "a" ? "b" : "a";
  const plan = {
    hook,
    role,
    stateDir: me.state,
    tunnel: TUNNEL_ID,
    offerOut: join(dir, `offer-${round}-${role}`),
    offerIn: offerIn ?? join(dir, `offer-${round}-${other}`),
    lport: port,
    rhost: partner.ip,
    rport: port,
  };
  const argv = [BUN, PEER_SCRIPT, JSON.stringify(plan), "--", ...hookArgs];
  return lab.spawn(me.host, hook === "wireguard" ? [...PRIVATE_WG_RUN, ...argv] : argv);
}

/** Each side a /32: no prefix route covers the partner, so ping also proves the route netpunch adds. */
const wgArgs = (address: string) => [
  "--wg-interface",
  WG.iface,
  "--wg-address",
  `${address}/32`,
  "--wg-handshake-timeout",
  "15",
];

const ping = (lab: Lab, from: Host, to: string) => {
  const r = lab.exec(from, ["ping", "-c", "3", "-W", "2", to]);
  return r.code === 0 ? "ok" : r.stdout + r.stderr;
};

labs.test("wireguard zero-config (wireguard-go): keys made and exchanged, ping both ways", async () => {
  const lab = labs.create();
  const dir = labs.tempDir("netpunch-zero-wg-");
  const { a, b } = await twoHosts(lab, dir);
  const pa = startSide(lab, dir, "wireguard", "a", a, b, WG.port, wgArgs(WG.a), 1);
  const pb = startSide(lab, dir, "wireguard", "b", b, a, WG.port, wgArgs(WG.b), 1);
  await Promise.all([waitStderr(pa, /handshake with/, 25_000), waitStderr(pb, /handshake with/, 25_000)]);
  expect([ping(lab, a.host, WG.b), ping(lab, b.host, WG.a)]).toEqual(["ok", "ok"]);
  expect(pa.output().stderr).toContain("pin: first-use");
  expect(pa.output().stderr).toContain("starting wireguard-go"); // no kernel module on this machine

  pa.kill("SIGTERM");
  pb.kill("SIGTERM");
  const exits = await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
  expect({
    exits,
    left: [await emptyWithin(a.host.ns), await emptyWithin(b.host.ns)],
    links: [hasLink(a.host.ns, WG.iface), hasLink(b.host.ns, WG.iface)],
  }).toEqual({ exits: [0, 0], left: ["", ""], links: [false, false] });
  // No private key in any log line.
  const keyA = (await Bun.file(join(a.state, "keys", "lab", "office", "wireguard.key")).text()).trim();
  expect(pa.output().stderr + pb.output().stderr).not.toContain(keyA);
});

labs.test(
  "a partner that comes back with another key is refused (pin mismatch); the first side starts nothing",
  async () => {
    const lab = labs.create();
    const dir = labs.tempDir("netpunch-zero-pin-");
    const { a, b } = await twoHosts(lab, dir);
    // Round 1: both pin each other's key (the tunnel itself is the test above: stop once pinned).
    const pa = startSide(lab, dir, "wireguard", "a", a, b, WG.port, wgArgs(WG.a), 1);
    const pb = startSide(lab, dir, "wireguard", "b", b, a, WG.port, wgArgs(WG.b), 1);
    await Promise.all([waitStderr(pa, /pin: first-use/, 15_000), waitStderr(pb, /pin: first-use/, 15_000)]);
    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);

    // b loses its state (a reinstall): it makes a new key, which a has never seen.
    rmSync(b.state, { recursive: true, force: true });
    const qa = startSide(lab, dir, "wireguard", "a", a, b, WG.port, wgArgs(WG.a), 2);
    const qb = startSide(lab, dir, "wireguard", "b", b, a, WG.port, wgArgs(WG.b), 2);
    const codeA = await exitWithin(qa, 15_000);
    qb.kill("SIGTERM");
    await exitWithin(qb, 10_000);
    const err = qa.output().stderr;
    expect(codeA, err).toBe(3);
    expect(err).toContain("[E_PIN_MISMATCH] tunnel lab/office: the partner offered key ");
    expect(hasLink(a.host.ns, WG.iface)).toBe(false);
    expect(await emptyWithin(a.host.ns)).toBe("");
  },
);

const ovpnArgs = (address: string) => [
  "--openvpn-address",
  `${address}/30`,
  "--openvpn-interface",
  OVPN.iface,
];

labs.test(
  "openvpn zero-config: self-signed certificates pinned by fingerprint, TLS p2p, ping through",
  async () => {
    const lab = labs.create();
    const dir = labs.tempDir("netpunch-zero-ovpn-");
    const { a, b } = await twoHosts(lab, dir);
    const pa = startSide(lab, dir, "openvpn", "a", a, b, OVPN.port, ovpnArgs(OVPN.a), 1);
    const pb = startSide(lab, dir, "openvpn", "b", b, a, OVPN.port, ovpnArgs(OVPN.b), 1);
    await Promise.all([
      waitStderr(pa, /Initialization Sequence Completed/, 25_000),
      waitStderr(pb, /Initialization Sequence Completed/, 25_000),
    ]);
    expect([ping(lab, a.host, OVPN.b), ping(lab, b.host, OVPN.a)]).toEqual(["ok", "ok"]);
    expect(pa.output().stderr).toContain("TLS point to point as the server");
    expect(pb.output().stderr).toContain("TLS point to point as the client");
    expect(pa.output().stderr + pb.output().stderr).not.toContain("static key");

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    const exits = await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
    expect({ exits, left: [await emptyWithin(a.host.ns), await emptyWithin(b.host.ns)] }).toEqual({
      exits: [0, 0],
      left: ["", ""],
    });
  },
);

labs.test(
  "openvpn enforces the offered fingerprint: a substituted offer on first use gets no tunnel with the real partner",
  async () => {
    const lab = labs.create();
    const dir = labs.tempDir("netpunch-zero-ovpn-forged-");
    const { a, b } = await twoHosts(lab, dir);
    // Someone in the middle hands a an offer with another certificate's fingerprint in b's name.
    const forged = join(dir, "offer-forged-b");
    const other = Array.from({ length: 32 }, () => "AB").join(":");
    await Bun.write(
      forged,
      JSON.stringify({ v: 1, hook: "openvpn", fingerprint: other, address: `${OVPN.b}/30` }),
    );
    const pa = startSide(lab, dir, "openvpn", "a", a, b, OVPN.port, ovpnArgs(OVPN.a), 1, forged);
    const pb = startSide(lab, dir, "openvpn", "b", b, a, OVPN.port, ovpnArgs(OVPN.b), 1);
    await waitStderr(pa, /--peer-fingerprint certificate hash verification failed/, 25_000);
    expect(pa.output().stderr).toContain(`pinned the partner's key ${other}`);
    expect(pa.output().stderr).not.toContain("Initialization Sequence Completed");
    expect(ping(lab, a.host, OVPN.b)).not.toBe("ok");
    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
  },
);
