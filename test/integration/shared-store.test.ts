// Several `netpunch serve` processes sharing one real redis-server (a child on loopback): peers registered at
// different servers meet, replays are refused across servers, and a Redis restart mid-wait costs nothing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { RedisClient } from "bun";
import { connect } from "../../src/index.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import { RedisRelayDirectory } from "../../src/rendezvous/relay-directory.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import { openUdp } from "../../src/transport/udp.ts";
import { type RedisChild, startRedis, stopAllRedis } from "../support/redis.ts";
import { makeCa, serverCert } from "../support/redis-certs.ts";
import { freePort, type Proc, run, secretFile, stopAll, waitFor } from "./cli.ts";

// Real processes, sockets and Redis: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const SECRET_TEXT = "integration-secret for servers sharing a store";
const SECRET = secretFile(SECRET_TEXT);
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
  return serverAt(redis.url, ...more);
}

async function serverAt(store: string, ...more: string[]): Promise<{ p: Proc; port: number }> {
  const port = await freePort();
  const p = run([
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--secret-file",
    SECRET,
    "--store",
    store,
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

/**
 * Real UDP on loopback, but no datagram between the two peers' own ports (as between two symmetric NATs):
 * only what goes through the servers and their relays passes.
 */
function apartFrom(partnerPort: number): TransportFactory {
  return async (bind, onDatagram, onError) => {
    const t = await openUdp(
      bind,
      (data, from) => from.port !== partnerPort && onDatagram(data, from),
      onError,
    );
    return {
      local: t.local,
      send: (data, to) => to.port !== partnerPort && t.send(data, to),
      close: () => t.close(),
    };
  };
}

test("a held by server 1, b by server 2, no direct path: both bind at the one relay one server opened", async () => {
  const [one, two] = [await server("--relay"), await server("--relay")];
  const [portA, portB] = [await freePort(), await freePort()];
  const peerAt = (role: "a" | "b", server: number, local: number, partner: number) =>
    connect({
      server: `127.0.0.1:${server}`,
      local: `127.0.0.1:${local}`,
      secret: SECRET_TEXT,
      role,
      session: "relayed-across",
      lan: false,
      transport: apartFrom(partner),
      // The relay is asked for soon (the direct path cannot work here); the punch has time to bind there.
      timings: { relayAfterMs: 100, punchMs: 10_000 },
    });
  const a = peerAt("a", one.port, portA, portB);
  await waitFor(one.p, /peer a registered/);
  const b = peerAt("b", two.port, portB, portA);
  const [ra, rb] = await Promise.all([a, b]);
  expect([ra.via, rb.via]).toEqual(["relay", "relay"]);
  // One relay port, which both peers talk to.
  expect([ra.rhost, ra.rport]).toEqual([rb.rhost, rb.rport]);
  const [log1, log2] = await stop(one, two);
  const opened = [log1, log2].map((log) => log?.match(/relay for pair \w+ on UDP port (\d+)/g) ?? []);
  // Exactly one server opened a relay, at the port both peers used.
  expect(opened.flat()).toHaveLength(1);
  expect(opened.flat()[0]).toContain(`UDP port ${ra.rport}`);
});

test("the pair's relay place names a server that died while opening it: once its beat is gone (3 s), a live server opens the relay and both peers bind there", async () => {
  const [one, two] = [await server("--relay"), await server("--relay")];
  const [portA, portB] = [await freePort(), await freePort()];
  const session = "relay-server-died";
  const peerAt = (role: "a" | "b", server: number, local: number, partner: number) =>
    connect({
      server: `127.0.0.1:${server}`,
      local: `127.0.0.1:${local}`,
      secret: SECRET_TEXT,
      role,
      session,
      lan: false,
      transport: apartFrom(partner),
      // The relay is asked for late enough for the test to claim the pair first; the punch outlasts the
      // dead server's beat.
      timings: { relayAfterMs: 1_500, punchMs: 15_000 },
    });
  const a = peerAt("a", one.port, portA, portB);
  await waitFor(one.p, /peer a registered/);
  const b = peerAt("b", two.port, portB, portA);
  // As soon as the pair is made, a third server claims its relay (and beats, as every server does) and dies
  // before it opens it: no more beats, the place stays "being opened" for its two minutes.
  const client = new RedisClient(redis.url);
  await client.connect();
  let pairId: string | undefined;
  for (const deadline = Date.now() + 10_000; !pairId && Date.now() < deadline; await Bun.sleep(5)) {
    const text = await client.get(`{netpunch}:s:${session}`);
    pairId = text ? (JSON.parse(text) as { pair?: { pairId: string } }).pair?.pairId : undefined;
  }
  if (!pairId) throw new Error("the pair was not made");
  const gone = { server: "died-while-opening", host: "127.0.0.1", port: 0, status: "ok" as const };
  expect(await new RedisRelayDirectory(client).claim(pairId, gone)).toBeUndefined();
  client.close();
  const [ra, rb] = await Promise.all([a, b]);
  expect([ra.via, rb.via]).toEqual(["relay", "relay"]);
  expect([ra.rhost, ra.rport]).toEqual([rb.rhost, rb.rport]);
  const [log1, log2] = await stop(one, two);
  const opened = [log1, log2].map((log) => log?.match(/relay for pair \w+ on UDP port (\d+)/g) ?? []);
  expect(opened.flat()).toHaveLength(1);
  expect(opened.flat()[0]).toContain(`UDP port ${ra.rport}`);
});

test("a server with relays beats while it runs (its key outlives one beat's 3 s); its beat is gone 3 s after it stops", async () => {
  const client = new RedisClient(redis.url);
  await client.connect();
  const beats = async () => ((await client.send("KEYS", ["{netpunch}:alive:*"])) as string[]).length;
  // Servers of earlier tests have stopped: their beats are gone, or go within their 3 s.
  for (const deadline = Date.now() + 5_000; (await beats()) > 0 && Date.now() < deadline; )
    await Bun.sleep(50);
  expect(await beats()).toBe(0);
  const one = await server("--relay");
  await Bun.sleep(4_000); // longer than one beat lives: only beats every second keep the key
  const [key] = (await client.send("KEYS", ["{netpunch}:alive:*"])) as string[];
  expect(key).toBeDefined();
  expect(Number(await client.send("PTTL", [key as string]))).toBeGreaterThan(0);
  await stop(one);
  await Bun.sleep(3_500);
  expect(await beats()).toBe(0);
  client.close();
});

/** A peer's socket, by hand: it seals REGISTERs as a peer does and keeps what the servers answer. */
async function handPeer() {
  const key = deriveKey(SECRET_TEXT);
  const answers: { port: number; msg: Message }[] = [];
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, data, port) {
        const opened = open(key, new Uint8Array(data));
        if (opened.ok) answers.push({ port, msg: opened.frame.msg });
      },
    },
  });
  const register = (cookie?: string): Message => ({
    type: "register",
    session: "replayed",
    role: "a",
    peerId: "0123456789abcdef",
    candidates: [],
    ...(cookie ? { cookie } : {}),
  });
  const sealed = (msg: Message) =>
    seal(key, msg, { timestamp: Date.now(), nonce: crypto.getRandomValues(new Uint8Array(12)) });
  /** Waits (bounded) for the next answer from `port`. */
  async function answerFrom(port: number, after: number): Promise<Message> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = answers.slice(after).find((a) => a.port === port);
      if (found) return found.msg;
      if (Date.now() > deadline) throw new Error(`no answer from ${port}`);
      await Bun.sleep(10);
    }
  }
  return { sock, register, sealed, answers, answerFrom };
}

test("a REGISTER accepted by server 1 is a replay at server 2 (shared nonces): dropped there, counted", async () => {
  const [one, two] = [await server(), await server()];
  const me = await handPeer();
  // The first REGISTER gets a challenge with a cookie; the second, with it, registers at server 1.
  me.sock.send(me.sealed(me.register()), one.port, "127.0.0.1");
  const challenge = await me.answerFrom(one.port, 0);
  if (challenge.type !== "registered") throw new Error(`not a challenge: ${challenge.type}`);
  const packet = me.sealed(me.register(challenge.cookie));
  const before = me.answers.length;
  me.sock.send(packet, one.port, "127.0.0.1");
  const waiting = await me.answerFrom(one.port, before);
  expect(waiting.type === "registered" && waiting.status).toBe("waiting");
  // The attacker's copy of that very packet, at server 2, within the time window: a replay, not answered.
  me.sock.send(packet, two.port, "127.0.0.1");
  // A fresh first REGISTER after it is answered: server 2 handled the replay before it, and said nothing.
  const mark = me.answers.length;
  me.sock.send(me.sealed(me.register()), two.port, "127.0.0.1");
  const next = await me.answerFrom(two.port, mark);
  expect(next.type === "registered" && next.status).toBe("challenge");
  expect(me.answers.slice(mark).filter((a) => a.port === two.port)).toHaveLength(1);
  me.sock.close();
  const [, log2] = await stop(one, two);
  expect(log2).toContain("dropped: replay 1");
});

test("Redis killed and started again (empty) while a waits: the servers say so once each way, and a meets b", async () => {
  const [one, two] = [await server("--stats-interval", "1"), await server()];
  const a = peer("a", one.port, "outage", "--timeout", "50");
  await waitFor(a, /waiting for the partner/);
  await redis.stop();
  await waitFor(one.p, /is down/);
  await redis.start();
  await waitFor(one.p, /is back: sessions are shared again/);
  await waitFor(two.p, /is back: sessions are shared again/);
  // Redis came back empty: a is in the store again after its next keepalive (15 s), its cookie still good.
  const b = peer("b", two.port, "outage", "--timeout", "50");
  expect([await a.done(40_000), await b.done(40_000)]).toEqual([0, 0]);
  const [ra, rb] = [json(await a.stdout), json(await b.stdout)];
  expect([ra.rport, rb.rport]).toEqual([rb.lport, ra.lport]);
  const [log1, log2] = await stop(one, two);
  for (const log of [log1 ?? "", log2 ?? ""]) {
    expect(log.match(/store redis:\/\/\S+ is down \(/g)).toHaveLength(1);
    expect(log.match(/store redis:\/\/\S+ is back:/g)).toHaveLength(1);
  }
  // --stats-interval: the store's commands since the last line, their time and its errors.
  expect(log1).toMatch(/; store up: \d+ ops, mean \d+\.\d\d ms, max \d+\.\d\d ms, \d+ errors/);
});

test("a Redis that wants a password, given by --store-password-file; /healthz says 503 while it is down, 200 once back", async () => {
  const password = "never-shown-anywhere";
  const guarded = await startRedis(password);
  const pwFile = join(dirname(SECRET), "redis-password");
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  const mport = freeTcp();
  const port = await freePort();
  const s = run([
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--secret-file",
    SECRET,
    "--store",
    `redis://default@127.0.0.1:${guarded.port}/0`,
    "--store-password-file",
    pwFile,
    "--metrics",
    `127.0.0.1:${mport}`,
  ]);
  // The metrics listener starts after the UDP socket: its own log line says it listens.
  await waitFor(s, /health on \/healthz/);
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${mport}/healthz`);
    return { status: r.status, body: await r.text() };
  };
  expect(await health()).toEqual({ status: 200, body: "ok\n" });
  await guarded.stop();
  await waitFor(s, /is down/);
  const down = await health();
  expect(down.status).toBe(503);
  expect(down.body).toContain(`redis://default:***@127.0.0.1:${guarded.port}/0 cannot be reached`);
  await guarded.start();
  await waitFor(s, /is back: sessions are shared again/);
  expect(await health()).toEqual({ status: 200, body: "ok\n" });
  const metrics = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
  s.proc.kill("SIGTERM");
  expect(await s.done()).toBe(0);
  for (const text of [down.body, metrics, await s.stderr]) expect(text).not.toContain(password);
  await guarded.stop();
});

test("a wrong Redis password: serve exits 1 with E_STORE, naming the store without the password", async () => {
  const guarded = await startRedis("the-right-one");
  const pwFile = join(dirname(SECRET), "wrong-password");
  writeFileSync(pwFile, "the-wrong-one\n", { mode: 0o600 });
  const s = run([
    "serve",
    "--listen",
    `127.0.0.1:${await freePort()}`,
    "--secret-file",
    SECRET,
    "--store",
    `redis://127.0.0.1:${guarded.port}/0`,
    "--store-password-file",
    pwFile,
  ]);
  expect(await s.done()).toBe(1);
  const err = await s.stderr;
  expect(err).toContain(
    `[E_STORE] the rendezvous store redis://:***@127.0.0.1:${guarded.port}/0 cannot be reached`,
  );
  expect(err).not.toContain("the-wrong-one");
  // The server never started: no outage is announced, and the hint does not promise a retry.
  expect(err).not.toContain("is down");
  expect(err).toContain("then start the server again");
  expect(err).not.toContain("retries by itself");
  await guarded.stop();
});

/** A TCP port that was free a moment ago. */
function freeTcp(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

test("--relay with a shared store on a wildcard --listen needs --relay-host; --relay-host must be one IP", async () => {
  const serveWith = async (...more: string[]) => {
    const s = run(["serve", "--secret-file", SECRET, "--store", redis.url, "--relay", ...more]);
    return { code: await s.done(), err: await s.stderr };
  };
  const wildcard = await serveWith("--listen", `0.0.0.0:${await freePort()}`);
  expect(wildcard.code).toBe(2);
  expect(wildcard.err).toContain("[E_USAGE] --relay with a shared --store on the wildcard --listen");
  const named = await serveWith("--listen", `0.0.0.0:${await freePort()}`, "--relay-host", "relay.example");
  expect(named.code).toBe(2);
  expect(named.err).toContain('[E_ADDRESS] relay host "relay.example" is not a valid address');
});

describe("a Redis that serves TLS only (rediss://), with a private CA made by openssl", () => {
  const password = "tls-redis-password-never-logged";
  let tlsRedis: RedisChild;
  let caFile: string;
  let otherCaFile: string;
  let pwFile: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "netpunch-store-tls-"));
    const ca = makeCa(dir, "ca");
    otherCaFile = makeCa(dir, "other-ca").cert;
    tlsRedis = await startRedis(password, { ...serverCert(dir, ca, "127.0.0.1"), ca: ca.cert });
    caFile = ca.cert;
    pwFile = join(dir, "redis-password");
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  });
  const store = () => tlsRedis.url.replace("//", "//default@");
  const shown = () => tlsRedis.url.replace("//", "//default:***@");

  test("--store-ca and --store-password-file: peers at two servers meet through it; no log shows the password", async () => {
    const tls = ["--store-password-file", pwFile, "--store-ca", caFile];
    const [one, two] = [await serverAt(store(), ...tls), await serverAt(store(), ...tls)];
    const a = peer("a", one.port, "over-tls");
    await waitFor(a, /waiting for the partner/);
    const b = peer("b", two.port, "over-tls");
    expect([await a.done(), await b.done()]).toEqual([0, 0]);
    const [ra, rb] = [json(await a.stdout), json(await b.stdout)];
    expect([ra.rport, rb.rport]).toEqual([rb.lport, ra.lport]);
    const [log1, log2] = await stop(one, two);
    expect(log1).toContain(`sessions in the shared store ${shown()}`);
    expect(log2).toContain("1 pairs made");
    for (const text of [log1, log2, await a.stderr, await b.stderr]) expect(text).not.toContain(password);
  });

  /** serve with this store and these options, which must fail: its exit code and stderr. */
  async function refused(storeUrl: string, ...more: string[]) {
    const s = run(
      ["serve", "--listen", `127.0.0.1:${await freePort()}`, "--secret-file", SECRET].concat([
        "--store",
        storeUrl,
        ...more,
      ]),
    );
    return { code: await s.done(), err: await s.stderr };
  }

  test("trusting another CA: exit 1, E_STORE says the certificate is not trusted, the hint names --store-ca", async () => {
    // The password in the URL this time: it is shown as *** there too.
    const r = await refused(tlsRedis.url.replace("//", `//default:${password}@`), "--store-ca", otherCaFile);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `[E_STORE] the rendezvous store ${shown()} cannot be reached: its TLS certificate is not trusted: self signed certificate in certificate chain`,
    );
    expect(r.err).toContain("hint: give the CA that signed Redis's certificate with --store-ca FILE (PEM)");
    expect(r.err).not.toContain(password);
  });

  test("redis:// at its TLS port: exit 1, E_STORE says it answers in TLS, the hint says rediss://", async () => {
    const r = await refused(store().replace("rediss:", "redis:"), "--store-password-file", pwFile);
    expect(r.code).toBe(1);
    expect(r.err).toContain("it answers in TLS, and the URL says redis:// (plain)");
    expect(r.err).toContain("hint: Redis there speaks TLS: use rediss:// in --store");
    expect(r.err).not.toContain(password);
  });
});
