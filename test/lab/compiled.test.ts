// The compiled linux-x64 binary end to end in the NAT lab: the server and both peers are the binary (no Bun
// on the path it takes), with the print hook and then the openvpn hook carrying ping through two NATs.
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiled } from "../support/binary.ts";
import { Lab } from "./lab.ts";
import { SERVER_PORT, secretFile, waitStderr } from "./netpunch.ts";

// Real processes, sockets and (in the lab) namespaces: far slower than bun test's 5 s default.
setDefaultTimeout(60_000);

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.cleanup();
  lab = undefined;
});

test("compiled binary: server and two peers behind separate NATs, print then openvpn", async () => {
  const bin = await compiled("linux-x64");
  const l = Lab.create();
  lab = l;
  const secret = secretFile();
  const key = join(mkdtempSync(join(tmpdir(), "netpunch-binovpn-")), "static.key");
  expect(Bun.spawnSync(["openvpn", "--genkey", "secret", key]).exitCode).toBe(0);
  const server = l.host("srv");
  const serverIp = await l.attachPublic(server);
  const gwA = l.host("gwa");
  const gwAIp = await l.attachPublic(gwA);
  const gwB = l.host("gwb");
  const gwBIp = await l.attachPublic(gwB);
  const a = l.host("a");
  const b = l.host("b");
  l.lan(gwA, "192.0.2", [a]);
  l.lan(gwB, "198.51.100", [b]);
  l.masquerade(gwA);
  l.masquerade(gwB);
  const srv = l.spawn(server, [bin, "serve", "--listen", `0.0.0.0:${SERVER_PORT}`, "--secret-file", secret]);
  await waitStderr(srv, /listening on UDP/);
  const peer = (h: typeof a, role: string, extra: string[]) =>
    l.spawn(h, [
      bin,
      "connect",
      "--role",
      role,
      "--server",
      `${serverIp}:${SERVER_PORT}`,
      "--local",
      ":10000",
      "--secret-file",
      secret,
      ...extra,
    ]);

  // 1. print: the result line.
  const pa = peer(a, "a", ["--json"]);
  await Bun.sleep(1_000);
  const pb = peer(b, "b", ["--json"]);
  expect(await pa.exited).toBe(0);
  expect(await pb.exited).toBe(0);
  expect(JSON.parse(await pa.stdout()).rhost).toBe(gwBIp);
  expect(JSON.parse(await pb.stdout()).rhost).toBe(gwAIp);

  // 2. openvpn through the hole, then Ctrl-C.
  const ovpn = (local: string, remote: string) => [
    "--hook",
    "openvpn",
    "--",
    "--dev",
    "tun",
    "--ifconfig",
    local,
    remote,
    "--secret",
    key,
    "--auth",
    "SHA256",
    "--cipher",
    "AES-256-CBC",
    "--verb",
    "3",
    "--ping",
    "1",
    "--ping-exit",
    "5",
  ];
  const va = peer(a, "a", ovpn("198.18.200.1", "198.18.200.2"));
  const vb = peer(b, "b", ovpn("198.18.200.2", "198.18.200.1"));
  await Promise.all([va, vb].map((p) => waitStderr(p, /Initialization Sequence Completed/, 30_000)));
  expect(l.exec(a, ["ping", "-n", "-c", "3", "-W", "2", "198.18.200.2"]).stdout).toMatch(/[1-3] received/);
  va.kill("SIGINT");
  vb.kill("SIGINT");
  expect(await va.exited).toBe(0);
  expect(await vb.exited).toBe(0);
  for (const h of [a, b]) expect(l.exec(l.internet, ["ip", "netns", "pids", h.ns]).stdout.trim()).toBe("");
});
