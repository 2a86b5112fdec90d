// `netpunch up` across real NATs: two hosts, each with a config file and nothing else, bring up a
// zero-config WireGuard (wireguard-go) or OpenVPN (TLS, pinned fingerprints) tunnel, report it through
// `netpunch status`, and bring it back by themselves when the tunnel program dies or a NAT forgets the
// mapping. Needs root: `bun test test/lab/up.test.ts`.
import { expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import { exitWithin, SERVER_PORT, secretFile, startServer, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import {
  pidsNamed,
  pidsWithArgs,
  pingsWithin,
  startUp,
  type TunnelStatusLine,
  tunnelState,
  waitStatus,
  writeConfig,
} from "../../lab/up.ts";

/** Each test starts two supervisors, tunnel programs and recoveries: more than the lab's default minute. */
const UP_TEST_MS = 120_000;
/** How long a supervisor may take to bring a tunnel up, including a WireGuard handshake retry (5 s). */
const UP_WITHIN_MS = 40_000;

const labs = labPerTest({ timeoutMs: UP_TEST_MS });

const isUp = (name: string) => (ts: TunnelStatusLine[]) => tunnelState(ts, name)?.state === "up";

async function pairOfHosts() {
  const lab = labs.create();
  const secret = secretFile();
  const dir = labs.tempDir("netpunch-up-");
  const placed = await serverAndPair(lab, "nat", "nat");
  await startServer(lab, placed.server, secret);
  return { lab, secret, dir, ...placed, server: `${placed.serverIp}:${SERVER_PORT}` };
}

labs.test(
  "WireGuard from two config files: up, status, pings both ways, and back by itself after wireguard-go dies and after a conntrack flush",
  async () => {
    const { lab, secret, dir, server, a, b } = await pairOfHosts();
    const tunnel = (role: "a" | "b", address: string) => ({
      // A keepalive every 2 s: a side whose partner died notices within 10 s (wg-silent's floor), not 75.
      office: { role, session: "lab-office", local: ":10000", hook: "wireguard", address, "wg-keepalive": 2 },
    });
    const fa = writeConfig(dir, "home", {
      servers: [server],
      secretFile: secret,
      tunnels: tunnel("a", "198.18.201.1/24"),
    });
    const fb = writeConfig(dir, "office", {
      servers: [server],
      secretFile: secret,
      tunnels: tunnel("b", "198.18.201.2/24"),
    });
    const pa = startUp(lab, a.host, fa);
    const pb = startUp(lab, b.host, fb);

    const [sa] = await Promise.all([
      waitStatus(lab, a.host, fa, isUp("office"), UP_WITHIN_MS, "a's tunnel up"),
      waitStatus(lab, b.host, fb, isUp("office"), UP_WITHIN_MS, "b's tunnel up"),
    ]);
    const office = tunnelState(sa, "office");
    expect(office?.path).toMatch(/^(direct|lan|birthday|predicted)$/);
    expect(office?.partnerKey).toMatch(/\S{8,}/);
    expect(pingsWithin(lab, a.host, "198.18.201.2")).toBe(true);
    expect(pingsWithin(lab, b.host, "198.18.201.1")).toBe(true);

    // The tunnel program dies: the supervisor notices, punches again and brings the tunnel back.
    const [wgA] = pidsNamed(a.host.ns, "wireguard-go");
    expect(wgA).toBeNumber();
    process.kill(wgA as number, "SIGKILL");
    await waitStatus(
      lab,
      a.host,
      fa,
      (ts) => (tunnelState(ts, "office")?.rounds ?? 0) >= 2 && isUp("office")(ts),
      UP_WITHIN_MS,
      "a's tunnel back after wireguard-go died",
    );
    expect(pingsWithin(lab, a.host, "198.18.201.2")).toBe(true);

    // The NAT forgets every mapping: the tunnel comes back (by WireGuard's keepalive or a new punch).
    lab.flushConntrack(a.gateway as NonNullable<typeof a.gateway>);
    expect(pingsWithin(lab, a.host, "198.18.201.2", 40)).toBe(true);
    expect(pingsWithin(lab, b.host, "198.18.201.1", 40)).toBe(true);

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
    expect([pidsNamed(a.host.ns, "wireguard-go"), pidsNamed(b.host.ns, "wireguard-go")]).toEqual([[], []]);
  },
);

labs.test(
  "OpenVPN in TLS mode with pinned fingerprints from two config files: pings, and back by itself after openvpn dies",
  async () => {
    const { lab, secret, dir, server, a, b } = await pairOfHosts();
    const tunnel = (role: "a" | "b", address: string) => ({
      backup: { role, session: "lab-backup", local: ":10000", hook: "openvpn", address },
    });
    const fa = writeConfig(dir, "nas", {
      servers: [server],
      secretFile: secret,
      tunnels: tunnel("a", "198.18.202.1/30"),
    });
    const fb = writeConfig(dir, "office", {
      servers: [server],
      secretFile: secret,
      tunnels: tunnel("b", "198.18.202.2/30"),
    });
    const pa = startUp(lab, a.host, fa);
    const pb = startUp(lab, b.host, fb);
    await Promise.all([
      waitStatus(lab, a.host, fa, isUp("backup"), UP_WITHIN_MS, "a's tunnel up"),
      waitStatus(lab, b.host, fb, isUp("backup"), UP_WITHIN_MS, "b's tunnel up"),
    ]);
    expect(pingsWithin(lab, a.host, "198.18.202.2")).toBe(true);
    expect(pingsWithin(lab, b.host, "198.18.202.1")).toBe(true);

    const [ovpnB] = pidsNamed(b.host.ns, "openvpn");
    expect(ovpnB).toBeNumber();
    process.kill(ovpnB as number, "SIGKILL");
    await waitStatus(
      lab,
      b.host,
      fb,
      (ts) => (tunnelState(ts, "backup")?.rounds ?? 0) >= 2 && isUp("backup")(ts),
      UP_WITHIN_MS * 2, // a's openvpn notices the silence by its own --ping-exit first
      "b's tunnel back after openvpn died",
    );
    expect(pingsWithin(lab, b.host, "198.18.202.1", 40)).toBe(true);
    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)])).toEqual([0, 0]);
  },
);

labs.test(
  "a config whose first server is down connects through the second; a partner with a new key is refused",
  async () => {
    const { lab, secret, dir, server, serverIp, a, b } = await pairOfHosts();
    // 203.0.113.1 is routed nowhere in the lab: a server that never answers.
    const servers = ["203.0.113.1:10001", server];
    expect(serverIp).not.toBe("203.0.113.1");
    const tunnel = (role: "a" | "b", address: string) => ({
      office: { role, session: "lab-pin", local: ":10000", hook: "wireguard", address, "wg-keepalive": 2 },
    });
    const fa = writeConfig(dir, "home", {
      servers,
      secretFile: secret,
      tunnels: tunnel("a", "198.18.203.1/24"),
    });
    const fb = writeConfig(dir, "office", {
      servers,
      secretFile: secret,
      tunnels: tunnel("b", "198.18.203.2/24"),
    });
    let pa = startUp(lab, a.host, fa);
    const pb = startUp(lab, b.host, fb);
    await Promise.all([
      waitStatus(lab, a.host, fa, isUp("office"), UP_WITHIN_MS, "a's tunnel up"),
      waitStatus(lab, b.host, fb, isUp("office"), UP_WITHIN_MS, "b's tunnel up"),
    ]);
    expect(pingsWithin(lab, b.host, "198.18.203.1")).toBe(true);

    // a comes back with a new key (its state directory lost): b, which pinned the old one, refuses it.
    pa.kill("SIGTERM");
    expect(await exitWithin(pa, 10_000)).toBe(0);
    rmSync(join(dir, "home", "state"), { recursive: true, force: true });
    pa = startUp(lab, a.host, fa);
    const refused = await waitStatus(
      lab,
      b.host,
      fb,
      (ts) => tunnelState(ts, "office")?.lastError?.code === "E_PIN_MISMATCH",
      UP_WITHIN_MS * 2,
      "b refusing a's new key",
    );
    expect(tunnelState(refused, "office")?.lastError?.message).toContain("office");
    // The log says what to do about it (the line is written as the status changes: read it as it comes).
    await waitStderr(pb, /netpunch forget office office/, 5_000);
    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
  },
);

labs.test(
  "three tunnels from one file to different partners, each independent: one partner gone leaves the others up",
  async () => {
    const { lab, secret, dir, server, a, b } = await pairOfHosts();
    // Each tunnel runs a program that stays as long as the tunnel: the exec hook with a sleep whose length
    // tells the tunnels' programs apart.
    const hold = (role: "a" | "b", session: string, port: number, seconds: number) => ({
      role,
      session,
      local: `:${port}`,
      hook: "exec",
      args: ["sleep", String(seconds)],
    });
    const fa = writeConfig(dir, "hub", {
      servers: [server],
      secretFile: secret,
      tunnels: {
        one: hold("a", "lab-one", 10011, 601),
        two: hold("a", "lab-two", 10012, 602),
        three: hold("a", "lab-three", 10013, 603),
      },
    });
    const fb = writeConfig(dir, "spoke1", {
      servers: [server],
      secretFile: secret,
      tunnels: { one: hold("b", "lab-one", 10021, 611), two: hold("b", "lab-two", 10022, 612) },
    });
    const fc = writeConfig(dir, "spoke2", {
      servers: [server],
      secretFile: secret,
      tunnels: { three: hold("b", "lab-three", 10023, 613) },
    });
    const pa = startUp(lab, a.host, fa);
    const pb = startUp(lab, b.host, fb);
    const pc = startUp(lab, b.host, fc);
    await waitStatus(
      lab,
      a.host,
      fa,
      (ts) => ["one", "two", "three"].every((n) => isUp(n)(ts)),
      UP_WITHIN_MS,
      "all three of a's tunnels up",
    );
    // spoke1 goes away, then tunnel one's program on the hub ends: tunnel one waits for its partner again,
    // while two (its program still running) and three (another partner) stay as they were.
    pb.kill("SIGTERM");
    expect(await exitWithin(pb, 10_000)).toBe(0);
    const [one] = pidsWithArgs(a.host.ns, "sleep 601");
    expect(one).toBeNumber();
    process.kill(one as number, "SIGTERM");
    const after = await waitStatus(
      lab,
      a.host,
      fa,
      (ts) => ["waiting", "backing-off", "punching"].includes(tunnelState(ts, "one")?.state ?? ""),
      UP_WITHIN_MS,
      "a's tunnel one no longer up once its program ended and its partner left",
    );
    expect(tunnelState(after, "two")?.state).toBe("up");
    expect(tunnelState(after, "three")).toMatchObject({ state: "up", rounds: 1 });
    for (const p of [pa, pc]) p.kill("SIGTERM");
    expect(await Promise.all([exitWithin(pa, 10_000), exitWithin(pc, 10_000)])).toEqual([0, 0]);
    expect(pidsNamed(a.host.ns, "sleep")).toEqual([]);
  },
);
