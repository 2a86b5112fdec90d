// Several `netpunch serve` processes sharing one real redis-server (a child on loopback): peers registered at
// different servers meet, replays are refused across servers, and a Redis restart mid-wait costs nothing.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { type RedisChild, startRedis, stopAllRedis } from "../support/redis.ts";
import { freePort, type Proc, run, secretFile, stopAll, waitFor } from "./cli.ts";

// Real processes, sockets and Redis: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const SECRET = secretFile("integration-secret for servers sharing a store");
let redis: RedisChild;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  stopAll();
  await stopAllRedis();
});

const json = (s: string) => JSON.parse(s.trim()) as { lport: number; rhost: string; rport: number };

/** `netpunch serve` on a free loopback port with the shared store; resolves once it listens. */
async function server(...more: string[]): Promise<{ p: Proc; port: number }> {
  const port = await freePort();
  const p = run([
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--secret-file",
    SECRET,
    "--store",
    redis.url,
    ...more,
  ]);
  await waitFor(p, /listening on UDP/);
  return { p, port };
}

const peer = (role: string, port: number, session: string, ...more: string[]) =>
  run([
    "connect",
    "--role",
    role,
    "--server",
    `127.0.0.1:${port}`,
    "--secret-file",
    SECRET,
    "--session",
    session,
    "--json",
    ...more,
  ]);

async function stop(...servers: { p: Proc }[]): Promise<string[]> {
  for (const s of servers) s.p.proc.kill("SIGTERM");
  const codes = await Promise.all(servers.map((s) => s.p.done()));
  expect(codes).toEqual(servers.map(() => 0));
  return Promise.all(servers.map((s) => s.p.stderr));
}

test("peer a only at server 1, peer b only at server 2, one Redis: each is told by its own server, they connect", async () => {
  const [one, two] = [await server(), await server()];
  const a = peer("a", one.port, "across");
  await waitFor(a, /waiting for the partner/);
  const b = peer("b", two.port, "across");
  expect([await a.done(), await b.done()]).toEqual([0, 0]);
  const [ra, rb] = [json(await a.stdout), json(await b.stdout)];
  expect([ra.rhost, ra.rport, rb.rport]).toEqual(["127.0.0.1", rb.lport, ra.lport]);
  const [log1, log2] = await stop(one, two);
  // Server 2 made the pair; server 1, holding a, sent a its MATCH; each saw only its own peer register.
  expect(log1).toContain("peer a registered from 127.0.0.1");
  expect(log1).not.toContain("peer b registered");
  expect(log2).toContain("peer b registered from 127.0.0.1");
  expect(log2).toContain("1 pairs made");
  expect(log1).toContain(`sessions in the shared store ${redis.url}`);
});
