// `netpunch pair` across real NATs, then `netpunch up` from what it wrote: two NATed hosts pair by a code
// through the server, each writes its config with the addresses derived from the pair key (the pair's IPv6
// unique local /64), and `up` on both brings up a WireGuard tunnel (wireguard-go) that pings both ways.
// Needs root: `bun test test/lab/pair.test.ts`.
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  CLI,
  exitWithin,
  SERVER_PORT,
  secretFile,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { place, serverAndPair } from "../../lab/placements.ts";
import { pidsNamed, pingsWithin } from "../../lab/up.ts";
import { PRIVATE_WG_RUN } from "../../lab/wg.ts";
import { loadConfig } from "../../src/cli/config/load.ts";

/** Pairing, two supervisors, wireguard-go and a handshake retry (5 s): more than the lab's default minute. */
const PAIR_TEST_MS = 120_000;
/** Rounds of one ping (1 s each) to wait for the tunnel: two punches, wireguard-go, a handshake retry. */
const PING_TRIES = 40;

const labs = labPerTest({ timeoutMs: PAIR_TEST_MS });

/**
 * Pings `ip` once a second, at most PING_TRIES times, until one answer comes: an unreachable address fails a
 * ping at once (no route before the interface is up), so each try also waits out its second.
 */
async function pingsSoon(
  lab: ReturnType<typeof labs.create>,
  host: Parameters<typeof pingsWithin>[1],
  ip: string,
) {
  for (let i = 0; i < PING_TRIES; i++) {
    if (pingsWithin(lab, host, ip, 1)) return true;
    await Bun.sleep(1000);
  }
  return false;
}

labs.test(
  "pair by a code across two NATs, then netpunch up on both: a WireGuard tunnel on the pair's ULA that pings",
  async () => {
    const lab = labs.create();
    const secret = secretFile();
    const dir = labs.tempDir("netpunch-pair-lab-");
    const { server: serverHost, serverIp, a, b } = await serverAndPair(lab, "nat", "nat");
    await startServer(lab, serverHost, secret);
    const server = `${serverIp}:${SERVER_PORT}`;
    const side = (name: string) => ({
      config: join(dir, name, `${name}.toml`),
      state: join(dir, name, "state"),
      run: join(dir, name, "run"),
    });
    const [sa, sb] = [side("office"), side("home")];
    const pairArgv = (name: string, s: typeof sa, more: string[] = []) => [
      ...[BUN, CLI, "pair", "--server", server, "--secret-file", secret, "--name", name],
      ...["--config", s.config, "--state-dir", s.state, ...more],
    ];

    const pa = lab.spawn(a.host, pairArgv("office", sa));
    const code = (await pa.waitFor(/^\d+-[a-z]+-[a-z]+\n/, 20_000)).trim();
    const pb = lab.spawn(b.host, pairArgv("home", sb, [code]));
    expect(await Promise.all([exitWithin(pa, 30_000), exitWithin(pb, 30_000)])).toEqual([0, 0]);
    expect(await pa.stdout()).toBe(`${code}\n${sa.config}\n`);
    expect(await pb.stdout()).toBe(`${sb.config}\n`);

    const [ta, tb] = [(await loadConfig(sa.config)).tunnels[0], (await loadConfig(sb.config)).tunnels[0]];
    const addressA = (ta?.address ?? "").split("/")[0] as string;
    const addressB = (tb?.address ?? "").split("/")[0] as string;
    expect(addressA).toMatch(/^fd[0-9a-f:]+::1$/);
    expect(addressB).toBe(addressA.replace(/::1$/, "::2"));
    const pinA = readFileSync(join(sa.state, "pins/office/office"), "utf8").trim();

    // The lab makes links without IPv6; the tunnel interfaces made from now on get it (the lab links keep none).
    for (const host of [a.host, b.host])
      expect(lab.exec(host, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0"]).code).toBe(0);
    // up from the written configs alone; the status socket in the test's folder, not the machine's /run.
    const up = (host: typeof a.host, s: typeof sa) =>
      lab.spawn(host, [...PRIVATE_WG_RUN, BUN, CLI, "up", s.config, "--verbose"], {
        env: { RUNTIME_DIRECTORY: s.run },
      });
    const ua = up(a.host, sa);
    const ub = up(b.host, sb);
    expect(await pingsSoon(lab, a.host, addressB)).toBe(true);
    expect(await pingsSoon(lab, b.host, addressA)).toBe(true);
    // up pinned nothing new: the key pair wrote is the one it checked the partner's offer against.
    expect(readFileSync(join(sa.state, "pins/office/office"), "utf8").trim()).toBe(pinA);
    expect(ua.output().stderr).not.toContain("E_PIN_MISMATCH");

    ua.kill("SIGTERM");
    ub.kill("SIGTERM");
    expect(await Promise.all([exitWithin(ua, 10_000), exitWithin(ub, 10_000)])).toEqual([0, 0]);
    expect([pidsNamed(a.host.ns, "wireguard-go"), pidsNamed(b.host.ns, "wireguard-go")]).toEqual([[], []]);
  },
);

labs.test("a wrong code across two NATs: both sides fail with exit 1 and write nothing", async () => {
  const lab = labs.create();
  const secret = secretFile();
  const dir = labs.tempDir("netpunch-pair-lab-");
  const { server: serverHost, serverIp, a, b } = await serverAndPair(lab, "nat", "nat");
  await startServer(lab, serverHost, secret);
  const server = `${serverIp}:${SERVER_PORT}`;
  const argv = (name: string, more: string[] = []) => [
    ...[BUN, CLI, "pair", "--server", server, "--secret-file", secret, "--name", name],
    ...["--config", join(dir, name, "c.toml"), "--state-dir", join(dir, name, "state"), ...more],
  ];
  const pa = lab.spawn(a.host, argv("wa"));
  const code = (await pa.waitFor(/^\d+-[a-z]+-[a-z]+\n/, 20_000)).trim();
  const wrong = code.replace(/-[a-z]+$/, code.endsWith("-acid") ? "-yogurt" : "-acid");
  const pb = lab.spawn(b.host, argv("wb", [wrong]));
  expect(await Promise.all([exitWithin(pa, 30_000), exitWithin(pb, 30_000)])).toEqual([1, 1]);
  expect((await pa.stderr()) + (await pb.stderr())).toContain("[E_PAIR]");
  expect(Bun.spawnSync(["find", dir, "-type", "f"]).stdout.toString()).toBe("");
});

labs.test(
  "a third host with the server's secret, in the paired tunnel's session with a key of its own: it cannot punch with A (no pair key), and nothing starts",
  async () => {
    const lab = labs.create();
    const secret = secretFile();
    const dir = labs.tempDir("netpunch-pair-lab-");
    const { server: serverHost, serverIp, a, b } = await serverAndPair(lab, "nat", "nat");
    const c = await place(lab, "c", "nat", "203.0.113");
    await startServer(lab, serverHost, secret);
    const server = `${serverIp}:${SERVER_PORT}`;
    const argv = (name: string, more: string[] = []) => [
      ...[BUN, CLI, "pair", "--server", server, "--secret-file", secret, "--name", name],
      ...["--config", join(dir, name, `${name}.toml`), "--state-dir", join(dir, name, "state"), ...more],
    ];
    const pa = lab.spawn(a.host, argv("office"));
    const code = (await pa.waitFor(/^\d+-[a-z]+-[a-z]+\n/, 20_000)).trim();
    const pb = lab.spawn(b.host, argv("home", [code]));
    expect(await Promise.all([exitWithin(pa, 30_000), exitWithin(pb, 30_000)])).toEqual([0, 0]);
    const configA = await loadConfig(join(dir, "office", "office.toml"));
    const tunnel = configA.tunnels[0];

    // B stays away. C holds the server's secret and knows the session (the server sees it in clear), and
    // takes B's role with a WireGuard key of its own.
    const ua = lab.spawn(a.host, [...PRIVATE_WG_RUN, BUN, CLI, "up", configA.file, "--verbose"], {
      env: { RUNTIME_DIRECTORY: join(dir, "office", "run") },
    });
    const pc = lab.spawn(
      c.host,
      [
        ...PRIVATE_WG_RUN,
        ...[BUN, CLI, "connect", "--role", "b", "--server", server, "--secret-file", secret],
        ...[
          "--session",
          tunnel?.session as string,
          "--hook",
          "wireguard",
          "--wg-interface",
          "np-c",
          "--wg-address",
          "fd00:db8::2/64",
          ...["--no-relay", "--punch-timeout", "5", "--timeout", "20"],
        ],
      ],
      { env: { STATE_DIRECTORY: join(dir, "intruder", "state") } },
    );
    // The server matches them (it admits both), but C's PINGs and PONGs do not authenticate with the pair's
    // key: A drops them, and C, whose punch can never succeed, gives up by its own timeouts.
    await waitStderr(ua, /failed authentication/, 30_000);
    expect(await exitWithin(pc, 30_000)).not.toBe(0);
    expect(pc.output().stderr).not.toMatch(/connected: /);
    // A never got as far as an offer: no tunnel, no pin to compare, no wireguard-go.
    expect(ua.output().stderr).not.toMatch(/E_PIN_MISMATCH|connected: /);
    expect(pidsNamed(a.host.ns, "wireguard-go")).toEqual([]);
    pc.kill("SIGTERM");
    ua.kill("SIGTERM");
    expect(await exitWithin(ua, 10_000)).toBe(0);
    await exitWithin(pc, 10_000);
  },
);
