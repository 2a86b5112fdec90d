// `netpunch serve --secrets-file` as a real process on loopback, with real peers as processes: two tenants'
// peers in one session name never meet, each pair meets its own, a stranger's secret gets nothing, SIGHUP
// admits a new tenant and a bad file on reload keeps serving; and on a shared real redis-server.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisChild, startRedis, stopAllRedis } from "../support/redis.ts";
import { freePort, type Proc, run, secretFile, stopAll, waitFor } from "./cli.ts";

// Real processes and sockets: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const SECRETS = {
  acme: "acme's integration secret, 32 bytes or more",
  globex: "globex's integration secret, 32 bytes or more",
  initech: "initech's integration secret, 32 bytes or more",
};
type Name = keyof typeof SECRETS;
const FILES = Object.fromEntries(Object.entries(SECRETS).map(([n, s]) => [n, secretFile(s)])) as Record<
  Name,
  string
>;
const dir = mkdtempSync(join(tmpdir(), "netpunch-tenants-it-"));

/** A tenants file naming `names`, each with its secret file. */
function tenantsFile(names: Name[], path = join(dir, `tenants-${names.join("-")}.toml`)): string {
  writeFileSync(path, names.map((n) => `[tenants.${n}]\nsecret_file = "${FILES[n]}"\n`).join("\n"), {
    mode: 0o600,
  });
  return path;
}

let redis: RedisChild;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  stopAll();
  await stopAllRedis();
});

async function server(file: string, ...more: string[]): Promise<{ p: Proc; port: number }> {
  const port = await freePort();
  const p = run(["serve", "--listen", `127.0.0.1:${port}`, "--secrets-file", file, ...more]);
  await waitFor(p, /listening on UDP/);
  return { p, port };
}

const peer = (tenant: Name, role: string, port: number, ...more: string[]) =>
  run([
    "connect",
    "--role",
    role,
    "--server",
    `127.0.0.1:${port}`,
    "--secret-file",
    FILES[tenant],
    "--session",
    "same-name",
    "--json",
    ...more,
  ]);
const json = (s: string) => JSON.parse(s.trim()) as { lport: number; rport: number };

async function stop(...servers: { p: Proc }[]): Promise<string[]> {
  for (const s of servers) s.p.proc.kill("SIGTERM");
  expect(await Promise.all(servers.map((s) => s.p.done()))).toEqual(servers.map(() => 0));
  return Promise.all(servers.map((s) => s.p.stderr));
}

/** Two tenants' a and b, one session name: the cross pair waits, then each meets its own partner. */
async function twoTenants(ports: [number, number]) {
  const acmeA = peer("acme", "a", ports[0]);
  const globexB = peer("globex", "b", ports[1]);
  await waitFor(acmeA, /waiting for the partner/);
  await waitFor(globexB, /waiting for the partner/);
  // Long enough for a single-secret server to have paired them many times over (it takes one round trip).
  await Bun.sleep(1_500);
  expect([acmeA.proc.exitCode, globexB.proc.exitCode]).toEqual([null, null]);
  const acmeB = peer("acme", "b", ports[1]);
  const globexA = peer("globex", "a", ports[0]);
  expect(await Promise.all([acmeA, acmeB, globexA, globexB].map((p) => p.done()))).toEqual([0, 0, 0, 0]);
  const [aa, ab, ga, gb] = await Promise.all(
    [acmeA, acmeB, globexA, globexB].map(async (p) => json(await p.stdout)),
  );
  // Each reached its own tenant's partner's port.
  expect([aa?.rport, ab?.rport, ga?.rport, gb?.rport]).toEqual([ab?.lport, aa?.lport, gb?.lport, ga?.lport]);
}

describe("one server, two tenants", () => {
  test("same session name: a of acme and b of globex never meet; each then meets its own partner", async () => {
    const s = await server(tenantsFile(["acme", "globex"]), "--stats-interval", "0.5");
    await twoTenants([s.port, s.port]);
    const [log] = await stop(s);
    expect(log).toContain("tenants from");
    expect(log).toContain('tenant acme session "same-name": paired');
    expect(log).toContain('tenant globex session "same-name": paired');
    expect(log).toContain("2 pairs made");
    expect(log).toContain("tenants: acme 0 waiting, 1 pairs; globex 0 waiting, 1 pairs");
    for (const secret of Object.values(SECRETS)) expect(log).not.toContain(secret);
  });

  test("a peer with a secret of no tenant gets nothing", async () => {
    const s = await server(tenantsFile(["acme", "globex"]));
    const stranger = peer("initech", "a", s.port, "--server-timeout", "2");
    expect(await stranger.done()).toBe(1);
    expect(await stranger.stderr).toContain("E_SERVER_SILENT");
    const [log] = await stop(s);
    expect(log).toMatch(/dropped: bad-auth \d+/);
  });

  test("SIGHUP: an added tenant's peers connect; a bad file keeps the tenants loaded before", async () => {
    const file = tenantsFile(["acme"], join(dir, "reloaded.toml"));
    const s = await server(file);
    tenantsFile(["acme", "initech"], file);
    s.p.proc.kill("SIGHUP");
    await waitFor(s.p, /tenants reloaded from .*: added initech/);
    const [a, b] = [peer("initech", "a", s.port), peer("initech", "b", s.port)];
    expect([await a.done(), await b.done()]).toEqual([0, 0]);
    // A file that is not valid: logged in one line, and acme's peers still meet.
    writeFileSync(file, `[tenants.acme]\nsecret_file = "${FILES.acme}"\nsekret = "oops"\n`);
    s.p.proc.kill("SIGHUP");
    await waitFor(s.p, /tenants not reloaded/);
    const [c, d] = [peer("acme", "a", s.port), peer("acme", "b", s.port)];
    expect([await c.done(), await d.done()]).toEqual([0, 0]);
    const [log = ""] = await stop(s);
    expect(log).toContain("unknown key tenants.acme.sekret");
    expect(log.match(/tenants not reloaded/g)).toHaveLength(1);
  });

  test("--secrets-file with --secret-file is a usage error (exit 2)", async () => {
    const p = run([
      "serve",
      "--listen",
      `127.0.0.1:${await freePort()}`,
      "--secrets-file",
      tenantsFile(["acme"]),
      "--secret-file",
      FILES.acme,
    ]);
    expect(await p.done()).toBe(2);
    expect(await p.stderr).toContain("--secrets-file names every tenant's secret");
  });

  test("a tenants file that is not valid stops serve at start (exit 2, E_TENANTS)", async () => {
    const file = join(dir, "twins.toml");
    writeFileSync(
      file,
      `[tenants.a]\nsecret_file = "${FILES.acme}"\n[tenants.b]\nsecret_file = "${FILES.acme}"\n`,
      { mode: 0o600 },
    );
    const p = run(["serve", "--listen", `127.0.0.1:${await freePort()}`, "--secrets-file", file]);
    expect(await p.done()).toBe(2);
    const err = await p.stderr;
    expect(err).toContain("E_TENANTS");
    expect(err).toContain("tenants a and b have the same secret");
  });
});

test("--relay-tcp: acme's a over the WebSocket meets acme's b over UDP through its relay; globex's b in the same session never", async () => {
  const tcpPort = (() => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    return port;
  })();
  const s = await server(tenantsFile(["acme", "globex"]), "--relay", "--relay-tcp", `127.0.0.1:${tcpPort}`);
  await waitFor(s.p, /listening on TCP/);
  const globexB = peer("globex", "b", s.port, "--timeout", "4");
  await waitFor(globexB, /waiting for the partner/);
  const a = run([
    "connect",
    "--role",
    "a",
    "--server-tcp",
    `ws://127.0.0.1:${tcpPort}`,
    "--secret-file",
    FILES.acme,
    "--session",
    "same-name",
    "--json",
  ]);
  await waitFor(a, /waiting for the partner/);
  const b = peer("acme", "b", s.port, "--relay-after", "0.1");
  expect([await a.done(), await b.done(), await globexB.done()]).toEqual([0, 0, 1]);
  expect(await globexB.stderr).toContain("E_TIMEOUT");
  // Both through the server's relay (a over its WebSocket), which opened a's RELAY_BIND with acme's key.
  const via = async (p: Proc) => (JSON.parse((await p.stdout).trim()) as { via: string }).via;
  expect([await via(a), await via(b)]).toEqual(["relay", "relay"]);
  const [log] = await stop(s);
  expect(log).toContain('tenant acme session "same-name": paired');
  expect(log).not.toContain('tenant globex session "same-name": paired');
});

test("two servers on one real redis-server, same tenants file: a tenant's a at one and b at the other meet, the other tenant's never", async () => {
  const file = tenantsFile(["acme", "globex"]);
  const one = await server(file, "--store", redis.url);
  const two = await server(file, "--store", redis.url);
  await twoTenants([one.port, two.port]);
  const [log1, log2] = await stop(one, two);
  expect(`${log1}${log2}`).toContain('tenant acme session "same-name": paired');
  expect(`${log1}${log2}`).toContain('tenant globex session "same-name": paired');
  // Each tenant's keys under its own prefix, none left under the one-secret store's.
  const keys = Bun.spawnSync(["redis-cli", "-p", String(redis.port), "--raw", "KEYS", "*"])
    .stdout.toString()
    .split("\n");
  for (const tenant of ["acme", "globex"])
    expect(keys.filter((k) => k.startsWith(`{netpunch}:tenant:${tenant}:done:`))).toHaveLength(2);
  expect(keys.filter((k) => /^\{netpunch\}:(s|done|pair):/.test(k))).toEqual([]);
});
