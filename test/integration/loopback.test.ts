// The real CLI as separate processes on loopback: many pairs on one server, the seed forms, and the
// failures a user meets first (wrong secret, closed port, lonely peer, port in use, Ctrl-C).
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect, freePort, run, secretFile, startServer, stopAll } from "./cli.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

afterAll(stopAll);
const SECRET = secretFile("integration-secret");
const json = (s: string) =>
  JSON.parse(s.trim()) as { lport: number; rhost: string; rport: number; session: string; role: string };

test("one server pairs eight sessions at once, each peer gets its own partner", async () => {
  const { p: server, port } = await startServer(SECRET);
  const sessions = Array.from({ length: 8 }, (_, i) => `pair-${i}`);
  const peer = (session: string, role: "a" | "b") =>
    connect(role, `127.0.0.1:${port}`, "--session", session, "--secret-file", SECRET, "--json", "-q");
  const as = sessions.map((s) => peer(s, "a"));
  await Bun.sleep(500); // every a is waiting before any b arrives
  const bs = sessions.map((s) => peer(s, "b"));
  const codes = await Promise.all([...as, ...bs].map((p) => p.done()));
  expect(codes.filter((c) => c !== 0)).toEqual([]);
  for (const [i, session] of sessions.entries()) {
    const ra = json(await (as[i]?.stdout ?? ""));
    const rb = json(await (bs[i]?.stdout ?? ""));
    expect([ra.session, rb.session]).toEqual([session, session]);
    expect(ra.rport).toBe(rb.lport);
    expect(rb.rport).toBe(ra.lport);
  }
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
  expect(await server.stderr).toContain("8 pairs made");
});

test("seed-compatible forms: c SECRET ADDR and a|b SECRET LOCAL SERVER print the LADDR/... line", async () => {
  const port = await freePort();
  const server = run(["c", "SeCrEt", `127.0.0.1:${port}`]);
  const [la, lb] = [await freePort(), await freePort()];
  await Bun.sleep(300);
  const a = run(["a", "SeCrEt", `:${la}`, `127.0.0.1:${port}`]);
  const b = run(["b", "SeCrEt", `:${lb}`, `127.0.0.1:${port}`]);
  expect(await a.done()).toBe(0);
  expect(await b.done()).toBe(0);
  expect((await a.stdout).trim()).toBe(
    `LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 0.0.0.0:${la} 0.0.0.0 ${la} 127.0.0.1:${lb} 127.0.0.1 ${lb}`,
  );
  expect((await b.stdout).trim()).toBe(
    `LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 0.0.0.0:${lb} 0.0.0.0 ${lb} 127.0.0.1:${la} 127.0.0.1 ${la}`,
  );
  expect(await a.stderr).toContain("visible to other local users");
  server.proc.kill("SIGTERM");
  await server.done();
});

test("IPv6: a server on [::1] pairs two peers over IPv6", async () => {
  const port = await freePort();
  const server = run(["serve", "--listen", `[::1]:${port}`, "--secret-file", SECRET]);
  await Bun.sleep(300);
  const peer = (role: string) => connect(role, `[::1]:${port}`, "--secret-file", SECRET, "--json");
  const a = peer("a");
  const b = peer("b");
  expect(await a.done()).toBe(0);
  expect(await b.done()).toBe(0);
  const ra = json(await a.stdout);
  const rb = json(await b.stdout);
  expect([ra.rhost, ra.rport]).toEqual(["::1", rb.lport]);
  expect([rb.rhost, rb.rport]).toEqual(["::1", ra.lport]);
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
});

describe("failures are one line plus a hint, with the right exit code", () => {
  test("wrong secret: no authenticated answer, naming the secret, address and UDP port; the server stays silent", async () => {
    const { p: server, port } = await startServer(SECRET);
    const peer = connect("a", `127.0.0.1:${port}`, "--secret", "not-the-secret", "--server-timeout", "1");
    expect(await peer.done()).toBe(1);
    const err = await peer.stderr;
    expect(err).toContain(
      `[E_SERVER_SILENT] no authenticated answer from the rendezvous server 127.0.0.1:${port}`,
    );
    expect(err).toMatch(/hint: .*secret.*UDP port \d+/);
    server.proc.kill("SIGTERM");
    await server.done();
    const serverLog = await server.stderr;
    expect(serverLog).toContain("failed authentication");
    expect(serverLog).toMatch(/0 pairs made, \d+ packets in, 0 out/); // never answered the forgery
  });

  test("nothing listening on the server port is told apart from silence", async () => {
    const port = await freePort();
    const peer = connect("a", `127.0.0.1:${port}`, "--secret-file", SECRET, "--server-timeout", "1");
    expect(await peer.done()).toBe(1);
    expect(await peer.stderr).toContain(`nothing listens on UDP port ${port}`);
  });

  test("a partner that never comes: --timeout gives exit 1 and says which role to start", async () => {
    const { p: server, port } = await startServer(SECRET);
    const peer = connect("a", `127.0.0.1:${port}`, "--secret-file", SECRET, "--timeout", "1");
    expect(await peer.done()).toBe(1);
    const err = await peer.stderr;
    expect(err).toContain('[E_TIMEOUT] no partner (role b) joined session "default" within 1 s');
    expect(err).toContain("hint: start the other peer with --role b");
    server.proc.kill("SIGTERM");
    await server.done();
  });

  test("local port in use: exit 1 naming the port", async () => {
    const holder = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
    const peer = connect("a", "127.0.0.1:9", "--local", `:${holder.port}`, "--secret-file", SECRET);
    expect(await peer.done()).toBe(1);
    expect(await peer.stderr).toContain(`[E_PORT_IN_USE] UDP port ${holder.port} is already in use`);
    holder.close();
  });

  test("malformed server address: exit 2 naming the argument", async () => {
    const peer = connect("a", "203.0.113.5", "--secret-file", SECRET);
    expect(await peer.done()).toBe(2);
    expect(await peer.stderr).toContain(
      '[E_ADDRESS] server address "203.0.113.5" is not a valid address: the port is missing',
    );
  });

  test("Ctrl-C while waiting: exits 130 at once and frees the port", async () => {
    const { p: server, port } = await startServer(SECRET);
    const local = await freePort();
    const peer = connect("a", `127.0.0.1:${port}`, "--local", `:${local}`, "--secret-file", SECRET);
    await Bun.sleep(700);
    peer.proc.kill("SIGINT");
    expect(await peer.done(5_000)).toBe(130);
    const again = await Bun.udpSocket({ hostname: "0.0.0.0", port: local }); // the port is free again
    again.close();
    server.proc.kill("SIGTERM");
    expect(await server.done(5_000)).toBe(0);
  });
});
