// netpunch as a library: serve() and connect() in-process over real UDP on loopback, with AbortSignals,
// events instead of logs, and nothing left bound after an abort.
import { expect, setDefaultTimeout, test } from "bun:test";
import { connect, NetpunchError, type NetpunchEvent, serve } from "../../src/index.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

const secret = "library-secret";
const canBind = async (port: number) => {
  const s = await Bun.udpSocket({ hostname: "0.0.0.0", port });
  s.close();
  return true;
};

/** Runs `fn` with stdout/stderr writes and console output captured. */
async function silent<T>(fn: () => Promise<T>): Promise<{ value: T; written: string }> {
  let written = "";
  const orig = {
    out: process.stdout.write,
    err: process.stderr.write,
    log: console.log,
    error: console.error,
    warn: console.warn,
    info: console.info,
  };
  const grab = (s: unknown) => {
    written += String(s);
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  console.log = console.error = console.warn = console.info = grab;
  try {
    return { value: await fn(), written };
  } finally {
    Object.assign(process.stdout, { write: orig.out });
    Object.assign(process.stderr, { write: orig.err });
    Object.assign(console, { log: orig.log, error: orig.error, warn: orig.warn, info: orig.info });
  }
}

test("serve + two connects in one process: typed results, events, no logging", async () => {
  const ac = new AbortController();
  const events: NetpunchEvent[] = [];
  const { value, written } = await silent(async () => {
    const server = await serve({
      listen: { host: "127.0.0.1", port: 0 },
      secret,
      signal: ac.signal,
      onEvent: (e) => events.push(e),
    });
    const at = `127.0.0.1:${server.local.port}`;
    const [a, b] = await Promise.all([
      connect({ server: at, secret, role: "a", session: "lib", onEvent: (e) => events.push(e) }),
      connect({ server: at, secret, role: "b", session: "lib" }),
    ]);
    ac.abort();
    await server.closed;
    return { a, b, stats: server.stats(), port: server.local.port };
  });
  expect(written).toBe("");
  expect(value.a.rport).toBe(value.b.lport);
  expect(value.b.rport).toBe(value.a.lport);
  expect(value.a.role).toBe("a");
  expect(value.stats.pairsMade).toBe(1);
  expect(events.map((e) => e.type)).toContain("connected");
  expect(events.map((e) => e.type)).toContain("server-pair");
  expect(await canBind(value.port)).toBe(true); // the server's socket is gone
});

test("aborting a waiting connect rejects with E_ABORTED and releases the local port", async () => {
  const ac = new AbortController();
  const server = await serve({ listen: { host: "127.0.0.1", port: 0 }, secret });
  const probe = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
  const port = probe.port;
  probe.close();
  const waiting = connect({
    server: `127.0.0.1:${server.local.port}`,
    local: `:${port}`,
    secret,
    role: "a",
    signal: ac.signal,
  });
  await Bun.sleep(300);
  ac.abort();
  const err = await waiting.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NetpunchError);
  expect((err as NetpunchError).code).toBe("E_ABORTED");
  expect(await canBind(port)).toBe(true);
  server.close();
  await server.closed;
});

test("an already aborted signal rejects before any socket is opened", async () => {
  const ac = new AbortController();
  ac.abort();
  const err = await connect({ server: "127.0.0.1:9", secret, role: "b", signal: ac.signal }).catch(
    (e: unknown) => e,
  );
  expect((err as NetpunchError).code).toBe("E_ABORTED");
});
