// A multi-tenant serve() as shipped, on the simulated internet: each tenant's peers use its own secret, and
// two tenants' peers in sessions of the same name never meet; a reload (setTenants) admits, refuses, rekeys.
import { afterEach, describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../src/errors.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { NONCE_LEN } from "../../src/protocol/constants.ts";
import { seal } from "../../src/protocol/packet.ts";
import { MemoryRelayDirectory } from "../../src/rendezvous/relay-directory.ts";
import { type RendezvousServer, serve } from "../../src/rendezvous/server.ts";
import { MemoryBus, type Notice } from "../../src/rendezvous/server-bus.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import type { TenantOptions } from "../../src/rendezvous/tenants.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import { expectPair } from "./support.ts";
import { ALT_PORT, SERVER, SERVER_PORT, Sim } from "./world.ts";

const ACME = { name: "acme", secret: "acme's own secret, 32 bytes or longer" };
const GLOBEX = { name: "globex", secret: "globex's own secret, 32 bytes or more" };
const INITECH = { name: "initech", secret: "initech's own secret, of 32+ bytes." };

const servers: RendezvousServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function tenantServer(sim: Sim, tenants: TenantOptions[] = [ACME, GLOBEX]) {
  const server = await sim.serve({ secret: undefined, tenants });
  servers.push(server);
  return server;
}

describe("two tenants, one session name", () => {
  test("a of one tenant and b of the other never meet; each then meets its own partner", async () => {
    const sim = new Sim(41);
    const server = await tenantServer(sim);
    const [acmeA, acmeB, globexA, globexB] = [1, 2, 3, 4].map((n) => sim.place(n, "nat"));
    if (!acmeA || !acmeB || !globexA || !globexB) throw new Error("unplaced");
    // The two roles a single-secret server would pair at once, in one session name: "sim".
    const pa1 = sim.connect(acmeA.host, "a", { secret: ACME.secret });
    const pb2 = sim.connect(globexB.host, "b", { secret: GLOBEX.secret });
    await sim.run(20_000);
    expect([pa1.done, pb2.done, server.stats().pairsMade]).toEqual([false, false, 0]);
    expect(server.stats().tenants).toEqual({
      acme: { sessions: 1, pairsMade: 0 },
      globex: { sessions: 1, pairsMade: 0 },
    });
    // Now each one's own partner comes.
    const pb1 = sim.connect(acmeB.host, "b", { secret: ACME.secret });
    const pa2 = sim.connect(globexA.host, "a", { secret: GLOBEX.secret });
    await sim.runUntil(() => pa1.done && pb1.done && pa2.done && pb2.done, 60_000);
    await expectPair(sim, [pa1, pb1], [acmeA, acmeB], "direct");
    await expectPair(sim, [pa2, pb2], [globexA, globexB], "direct");
    expect(server.stats().tenants).toEqual({
      acme: { sessions: 0, pairsMade: 1 },
      globex: { sessions: 0, pairsMade: 1 },
    });
    // The server's events name the tenant of each pair.
    const pairs = sim.serverEvents.flatMap((e) => (e.type === "server-pair" ? [e.tenant] : []));
    expect(pairs.sort()).toEqual(["acme", "globex"]);
  });

  test("a peer with a secret of no tenant gets nothing: its packets are dropped as bad-auth", async () => {
    const sim = new Sim(42);
    const server = await tenantServer(sim);
    const stranger = sim.place(1, "nat");
    const p = sim.connect(stranger.host, "a", {
      secret: "a secret of no tenant, 32 bytes long",
      timeoutMs: 10_000,
    });
    await sim.runUntil(() => p.done, 30_000);
    expect((p.error as NetpunchError | undefined)?.code).toBe("E_SERVER_SILENT");
    expect(server.stats().dropped["bad-auth"]).toBeGreaterThan(0);
    expect(server.stats().packetsOut).toBe(0);
  });

  test("two servers sharing each tenant's store: a at one, b at the other, notices carry the tenant", async () => {
    const sim = new Sim(43);
    const stores = new Map([ACME, GLOBEX].map((t) => [t.name, new MemoryStore()]));
    const notices: Notice[] = [];
    const bus = new (class extends MemoryBus {
      override publish(server: string, notice: Notice): void {
        notices.push(notice);
        super.publish(server, notice);
      }
    })();
    const shared = {
      secret: undefined,
      tenants: [ACME, GLOBEX],
      tenantStore: (name: string) => stores.get(name) as MemoryStore,
      bus,
      relayDirectory: new MemoryRelayDirectory(),
    };
    const one = await sim.serve(shared);
    const server2 = { host: "198.18.0.2", port: SERVER_PORT };
    const two = await sim.serve({
      ...shared,
      listen: server2,
      altPort: ALT_PORT,
      transport: sim.net.host(server2.host).transport,
    });
    servers.push(one, two);
    const [a, b, other] = [1, 2, 3].map((n) => sim.place(n, "nat"));
    if (!a || !b || !other) throw new Error("unplaced");
    const pa = sim.connect(a.host, "a", { secret: GLOBEX.secret, server: [SERVER] });
    // acme's b at server 2, same session name: acme's, not globex's.
    const pOther = sim.connect(other.host, "b", { secret: ACME.secret, server: [server2] });
    await sim.run(10_000);
    expect([pa.done, pOther.done]).toEqual([false, false]);
    const pb = sim.connect(b.host, "b", { secret: GLOBEX.secret, server: [server2] });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
    expect(pOther.done).toBe(false);
    // Server 2 paired them and asked server 1 to send a its MATCH; every notice names globex.
    const matches = notices.flatMap((n) => (n.kind === "match" ? [[n.tenant, n.session, n.role]] : []));
    expect(matches).toEqual([["globex", "sim", "a"]]);
    expect(new Set(notices.map((n) => n.tenant))).toEqual(new Set(["globex"]));
  });
});

test("both behind symmetric NATs: each tenant's pair binds at a relay with its own key, one session name", async () => {
  const sim = new Sim(48);
  const server = await tenantServer(sim);
  const [a1, b1, a2, b2] = [1, 2, 3, 4].map((n) => sim.place(n, "symmetric"));
  if (!a1 || !b1 || !a2 || !b2) throw new Error("unplaced");
  const peers = [
    sim.connect(a1.host, "a", { secret: ACME.secret }),
    sim.connect(b1.host, "b", { secret: ACME.secret }),
    sim.connect(a2.host, "a", { secret: GLOBEX.secret }),
    sim.connect(b2.host, "b", { secret: GLOBEX.secret }),
  ] as const;
  await sim.runUntil(() => peers.every((p) => p.done), 60_000);
  const [ra1] = await expectPair(sim, [peers[0], peers[1]], [a1, b1], "relay");
  const [ra2] = await expectPair(sim, [peers[2], peers[3]], [a2, b2], "relay");
  // Two relays, one per tenant's pair, each event naming its tenant.
  expect(ra1.raddr).not.toBe(ra2.raddr);
  expect(server.stats().relaysOpened).toBe(2);
  const relayed = sim.serverEvents.flatMap((e) => (e.type === "server-relay" ? [e.tenant] : []));
  expect([...new Set(relayed)].sort()).toEqual(["acme", "globex"]);
});

test("a tenant's relay share: its second relayed pair is told the relay is full; another tenant's pair is relayed", async () => {
  const sim = new Sim(49);
  const server = await tenantServer(sim, [{ ...ACME, maxRelays: 1 }, GLOBEX]);
  const hosts = [1, 2, 3, 4, 5, 6].map((n) => sim.place(n, "symmetric"));
  const [a1, b1, a2, b2, a3, b3] = hosts;
  if (!a1 || !b1 || !a2 || !b2 || !a3 || !b3) throw new Error("unplaced");
  const pair = (a: typeof a1, b: typeof a1, secret: string, session: string) =>
    [sim.connect(a.host, "a", { secret, session }), sim.connect(b.host, "b", { secret, session })] as const;
  const first = pair(a1, b1, ACME.secret, "one");
  await sim.runUntil(() => first.every((p) => p.done), 60_000);
  await expectPair(sim, [first[0], first[1]], [a1, b1], "relay");
  const second = pair(a2, b2, ACME.secret, "two");
  const other = pair(a3, b3, GLOBEX.secret, "two");
  await sim.runUntil(() => [...second, ...other].every((p) => p.done), 60_000);
  await expectPair(sim, [other[0], other[1]], [a3, b3], "relay");
  expect(second.map((p) => p.result?.via)).toEqual([undefined, undefined]);
  expect(second[0].events.some((e) => e.type === "relay" && e.state === "full")).toBe(true);
  expect([server.stats().relaysOpened, server.stats().relaysRefused.full > 0]).toEqual([2, true]);
});

test("a tenant's relay share holds when its pairs ask at the same moment (the slot is taken before the relay opens)", async () => {
  const sim = new Sim(50);
  // A relay port takes 2 s to open (a loaded host): every pair's RELAY_REQUEST comes while the first opens.
  const slowRelays =
    (f: TransportFactory): TransportFactory =>
    async (bind, ...rest) => {
      if (bind.port !== SERVER_PORT && bind.port !== ALT_PORT)
        await new Promise<void>((done) => sim.clock.setTimer(2_000, done));
      return f(bind, ...rest);
    };
  const server = await sim.serve(
    { secret: undefined, tenants: [{ ...ACME, maxRelays: 1 }, GLOBEX] },
    slowRelays,
  );
  servers.push(server);
  const hosts = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => sim.place(n, "symmetric"));
  const pairs = [0, 2, 4, 6].map((i) => {
    const [a, b] = [hosts[i], hosts[i + 1]];
    if (!a || !b) throw new Error("unplaced");
    const session = `s${i}`;
    return [
      sim.connect(a.host, "a", { secret: ACME.secret, session }),
      sim.connect(b.host, "b", { secret: ACME.secret, session }),
    ] as const;
  });
  const all = pairs.flat();
  await sim.runUntil(() => all.every((p) => p.done), 60_000);
  expect(all.filter((p) => p.result?.via === "relay").length).toBe(2);
  expect(server.stats().relaysOpened).toBe(1);
});

test("a changed secret: a relay opened before takes RELAY_BIND with the new secret only", async () => {
  const sim = new Sim(51);
  const server = await tenantServer(sim);
  const [a, b, outsider] = [1, 2, 3].map((n) => sim.place(n, n === 3 ? "public" : "symmetric"));
  if (!a || !b || !outsider) throw new Error("unplaced");
  const pair = [
    sim.connect(a.host, "a", { secret: ACME.secret }),
    sim.connect(b.host, "b", { secret: ACME.secret }),
  ] as const;
  await sim.runUntil(() => pair.every((p) => p.done), 60_000);
  const [ra] = await expectPair(sim, [pair[0], pair[1]], [a, b], "relay");
  const relayPort = ra.rport;
  const next = "acme's next secret, 32 bytes or more";
  expect(server.setTenants([{ ...ACME, secret: next }, GLOBEX]).changed).toEqual(["acme"]);
  // Someone still holding the old secret (the reason it was changed) sends the relay a BIND with it.
  const socket = await outsider.host.transport({ host: "0.0.0.0", port: 0 }, () => {});
  const bind = (secret: string) =>
    socket.send(
      seal(
        deriveKey(secret),
        { type: "relayBind", pairId: "00".repeat(16), peerId: "11".repeat(8) },
        { timestamp: sim.clock.now(), nonce: sim.random().bytes(NONCE_LEN) },
      ),
      { host: SERVER.host, port: relayPort },
    );
  const drops = () => ({ ...server.stats().dropped });
  const before = drops();
  bind(ACME.secret);
  await sim.run(1_000);
  const afterOld = drops();
  expect((afterOld["bad-auth"] ?? 0) - (before["bad-auth"] ?? 0)).toBe(1);
  // With the new secret the BIND is opened (and refused for naming another pair, not for its tag).
  bind(next);
  await sim.run(1_000);
  const afterNew = drops();
  expect([
    (afterNew["bad-auth"] ?? 0) - (afterOld["bad-auth"] ?? 0),
    (afterNew["foreign-pair"] ?? 0) - (afterOld["foreign-pair"] ?? 0),
  ]).toEqual([0, 1]);
  socket.close();
});

describe("setTenants (a reload)", () => {
  test("an added tenant's peers meet; a removed tenant's new packets are refused; a changed secret takes effect", async () => {
    const sim = new Sim(44);
    const server = await tenantServer(sim);
    expect(
      server.setTenants([GLOBEX, INITECH, { ...ACME, secret: "acme's next secret, 32 bytes or more" }]),
    ).toEqual({
      added: ["initech"],
      removed: [],
      changed: ["acme"],
    });
    const [a, b, old] = [1, 2, 3].map((n) => sim.place(n, "nat"));
    if (!a || !b || !old) throw new Error("unplaced");
    const pa = sim.connect(a.host, "a", { secret: INITECH.secret });
    const pb = sim.connect(b.host, "b", { secret: INITECH.secret });
    // acme's old secret no longer opens anything.
    const pOld = sim.connect(old.host, "a", { secret: ACME.secret, timeoutMs: 10_000 });
    await sim.runUntil(() => pa.done && pb.done && pOld.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
    expect((pOld.error as NetpunchError | undefined)?.code).toBe("E_SERVER_SILENT");

    expect(server.setTenants([INITECH])).toEqual({ added: [], removed: ["acme", "globex"], changed: [] });
    const gone = sim.place(5, "nat");
    const pGone = sim.connect(gone.host, "a", { secret: GLOBEX.secret, timeoutMs: 10_000 });
    await sim.runUntil(() => pGone.done, 30_000);
    expect((pGone.error as NetpunchError | undefined)?.code).toBe("E_SERVER_SILENT");
    // Nothing of the removed tenants was held: they are forgotten.
    expect(Object.keys(server.stats().tenants ?? {})).toEqual(["initech"]);
  });

  test("a list that is not valid is refused whole and the old one stays", async () => {
    const sim = new Sim(45);
    const server = await tenantServer(sim);
    const twins = [INITECH, { name: "again", secret: INITECH.secret }];
    expect(() => server.setTenants(twins)).toThrow("have the same secret");
    expect(() => server.setTenants([])).toThrow("no tenants");
    expect(() => server.setTenants([{ name: "no spaces", secret: INITECH.secret }])).toThrow(
      "is not 1 to 32",
    );
    const [a, b] = [1, 2].map((n) => sim.place(n, "nat"));
    if (!a || !b) throw new Error("unplaced");
    const pa = sim.connect(a.host, "a", { secret: ACME.secret });
    const pb = sim.connect(b.host, "b", { secret: ACME.secret });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
    expect(Object.keys(server.stats().tenants ?? {})).toEqual(["acme", "globex"]);
  });

  test("a server with one secret has no tenants to change", async () => {
    const sim = new Sim(46);
    const server = await sim.serve();
    servers.push(server);
    expect(() => server.setTenants([ACME])).toThrow("one secret");
    expect(server.stats().tenants).toBeUndefined();
  });
});

test("serve() wants a secret or tenants, not both", async () => {
  const sim = new Sim(47);
  const host = sim.net.host(SERVER.host);
  const both = { listen: SERVER, secret: "x", tenants: [ACME], transport: host.transport, clock: sim.clock };
  await expect(serve(both)).rejects.toThrow("exactly one");
  await expect(serve({ ...both, secret: undefined, tenants: undefined })).rejects.toThrow("exactly one");
});
