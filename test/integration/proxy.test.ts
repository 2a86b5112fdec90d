// Proxy mode through the real CLI on loopback: `connect --proxy --hook print --json --hook exec` runs a
// stand-in tunnel (test/fixtures/proxy-tunnel.ts) that binds LPORT and sends to RHOST:RPORT, which are
// netpunch's loopback endpoint, not the partner's port: the datagrams cross only through the proxies.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { freePort, type Proc, run, secretFile, startServer, stopAll } from "./cli.ts";

setDefaultTimeout(60_000);

const SECRET = secretFile("proxy-secret");
const TUNNEL = join(import.meta.dir, "../fixtures/proxy-tunnel.ts");
const { p: server, port: serverPort } = await startServer(SECRET);

afterAll(async () => {
  server.proc.kill("SIGTERM");
  await server.done(5_000);
  stopAll();
});

async function outcome(p: Proc) {
  const code = await p.done();
  return { code, stdout: await p.stdout, stderr: await p.stderr };
}

describe("connect --proxy", () => {
  test("the tunnels talk through netpunch's loopback endpoints; --json says proxy and the path", async () => {
    const session = `proxy-${process.pid}`;
    const ports = { a: await freePort(), b: await freePort() };
    const start = (role: "a" | "b") =>
      run([
        "connect",
        "--role",
        role,
        "--session",
        session,
        "--server",
        `127.0.0.1:${serverPort}`,
        "--local",
        `127.0.0.1:${ports[role]}`,
        "--secret-file",
        SECRET,
        "--no-lan",
        "--timeout",
        "10",
        "--proxy",
        "--hook",
        "print",
        "--json",
        "--hook",
        "exec",
        "--",
        process.execPath,
        TUNNEL,
      ]);
    const [oa, ob] = await Promise.all([outcome(start("a")), outcome(start("b"))]);
    expect([oa.code, ob.code], `${oa.stderr}\n${ob.stderr}`).toEqual([0, 0]);
    for (const [o, me, partner] of [
      [oa, "a", "b"],
      [ob, "b", "a"],
    ] as const) {
      const line = JSON.parse(o.stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}");
      expect(line).toMatchObject({ proxy: true, via: "direct", rhost: "127.0.0.1", lhost: "127.0.0.1" });
      // The hook's endpoints are netpunch's, never the partner's punched port.
      expect(line.rport).not.toBe(ports[partner]);
      expect(line.lport).not.toBe(ports[me]);
      expect(`${o.stdout}${o.stderr}`).toContain(`heard: from ${partner}`);
    }
  });

  test("--proxy with --exec-replace is a usage error before any packet", async () => {
    const p = run([
      "connect",
      "--role",
      "a",
      "--server",
      `127.0.0.1:${serverPort}`,
      "--secret-file",
      SECRET,
      "--proxy",
      "--hook",
      "exec",
      "--exec-replace",
      "--",
      "true",
    ]);
    const o = await outcome(p);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("--proxy and --exec-replace exclude each other");
  });
});
