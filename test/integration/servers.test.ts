// The real CLI with several --server: two servers on loopback, one of them a closed port, and both silent.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, run, secretFile, startServer, stopAll } from "./cli.ts";

// Real processes and sockets: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

afterAll(stopAll);
const SECRET = secretFile("integration-secret for several servers");
const json = (s: string) => JSON.parse(s.trim()) as { lport: number; rhost: string; rport: number };

const peer = (role: string, servers: string[], ...more: string[]) =>
  run([
    "connect",
    "--role",
    role,
    ...servers.flatMap((s) => ["--server", s]),
    "--secret-file",
    SECRET,
    "--json",
    ...more,
  ]);

test("--server twice, the first a closed port: both peers connect through the second, which logs by name", async () => {
  const closed = await freePort(); // nothing listens there: the kernel answers with ICMP port unreachable
  const { p: server, port } = await startServer(SECRET);
  const servers = [`127.0.0.1:${closed}`, `127.0.0.1:${port}`];
  const a = peer("a", servers, "--session", "two-servers");
  const b = peer("b", servers, "--session", "two-servers");
  expect([await a.done(), await b.done()]).toEqual([0, 0]);
  const ra = json(await a.stdout);
  const rb = json(await b.stdout);
  expect([ra.rhost, ra.rport, rb.rport]).toEqual(["127.0.0.1", rb.lport, ra.lport]);
  const err = await a.stderr;
  // Matched on first contact or registered first: either way the log names the server that answered.
  if (err.includes("registered with the server"))
    expect(err).toContain(`registered with the server 127.0.0.1:${port};`);
  expect(err).not.toContain(`registered with the server 127.0.0.1:${closed}`);
  server.proc.kill("SIGTERM");
  expect(await server.done()).toBe(0);
  expect(await server.stderr).toContain("1 pairs made");
});

test("--server twice, both closed: E_SERVER_SILENT naming both, exit 1", async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  const a = peer("a", [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`], "--server-timeout", "1");
  expect(await a.done()).toBe(1);
  const err = await a.stderr;
  expect(err).toContain("[E_SERVER_SILENT]");
  expect(err).toContain(`127.0.0.1:${p1}, 127.0.0.1:${p2}`);
});

test("the seed form takes its one server as before; a second --server on it is unknown", async () => {
  const a = run(["a", "SeCrEt", ":0", "127.0.0.1:9", "--server", "127.0.0.1:10"]);
  expect(await a.done()).toBe(2);
  expect(await a.stderr).toContain("--server");
});
