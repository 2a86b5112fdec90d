// The socat-forward hook across two real NATs: A exposes a UDP echo service that listens on its own
// loopback, B reaches it through the punched hole from a local port on B's loopback. SIGTERM then stops
// netpunch and the socat it started. Needs root: `bun test test/lab/forward.test.ts`.
import { expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Host, type Lab, labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  emptyWithin,
  exitWithin,
  PEER_PORT,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";

const SERVICE_PORT = 9007; // the echo service on A's loopback
const LISTEN_PORT = 9008; // where B's local client sends
const MESSAGES = 3;

/** UDP echo on 127.0.0.1:PORT; bounded: exits after MAX datagrams or MS milliseconds. */
const ECHO_SERVER = `
const [port, max, ms] = process.argv.slice(2).map(Number);
let n = 0;
const done = Promise.withResolvers();
const s = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port,
  socket: {
    data(sock, data, fromPort, fromAddr) {
      sock.send(data, fromPort, fromAddr);
      if (++n >= max) done.resolve();
    },
  },
});
console.log("echo listening " + s.port);
const t = setTimeout(done.resolve, ms);
await done.promise;
clearTimeout(t);
s.close();
`;

/**
 * Sends "msg I" for I < COUNT to 127.0.0.1:PORT from one socket, resending the ones not yet echoed every
 * 200 ms (the forwarders may still be starting), at most TRIES rounds; prints each distinct echo.
 */
const ECHO_CLIENT = `
const [port, count, tries] = process.argv.slice(2).map(Number);
const got = new Set();
const s = await Bun.udpSocket({
  hostname: "127.0.0.1",
  socket: {
    data(_sock, data) {
      const text = data.toString();
      if (!got.has(text)) console.log("echo " + text);
      got.add(text);
    },
  },
});
for (let round = 0; round < tries && got.size < count; round++) {
  for (let i = 0; i < count; i++) if (!got.has("msg " + i)) s.send("msg " + i, port, "127.0.0.1");
  await Bun.sleep(200);
}
s.close();
process.exit(got.size === count ? 0 : 1);
`;

const labs = labPerTest();

const startForwardPeer = (
  l: Lab,
  host: Host,
  role: "a" | "b",
  serverIp: string,
  secret: string,
  hookArgs: string[],
) => startPeer(l, host, role, serverIp, secret, ["--timeout", "20", "--hook", "socat-forward", ...hookArgs]);

labs.test(
  "socat-forward between two MASQUERADE NATs: B's local client reaches A's local echo service",
  async () => {
    const lab = labs.create();
    const secret = secretFile();
    const work = labs.tempDir("netpunch-forward-");
    const echoServer = join(work, "echo-server.ts");
    const echoClient = join(work, "echo-client.ts");
    writeFileSync(echoServer, ECHO_SERVER);
    writeFileSync(echoClient, ECHO_CLIENT);

    const placed = await serverAndPair(lab, "nat", "nat");
    const { server, serverIp } = placed;
    const [a, b, gwAIp, gwBIp] = [placed.a.host, placed.b.host, placed.a.publicIp, placed.b.publicIp];
    await startServer(lab, server, secret);

    const echo = lab.spawn(a, [BUN, echoServer, String(SERVICE_PORT), "50", "30000"]);
    await echo.waitFor(/^echo listening /m);

    const pa = startForwardPeer(lab, a, "a", serverIp, secret, ["--forward-to", `127.0.0.1:${SERVICE_PORT}`]);
    const pb = startForwardPeer(lab, b, "b", serverIp, secret, [
      "--forward-listen",
      `127.0.0.1:${LISTEN_PORT}`,
    ]);
    await Promise.all([waitStderr(pa, /started socat/, 20_000), waitStderr(pb, /started socat/, 20_000)]);
    // The punched path: the hole between the two gateways' public addresses (MASQUERADE keeps the port).
    expect(pa.output().stderr).toContain(`<-> ${gwBIp}:${PEER_PORT} (direct`);
    expect(pb.output().stderr).toContain(`<-> ${gwAIp}:${PEER_PORT} (direct`);

    const client = lab.spawn(b, [BUN, echoClient, String(LISTEN_PORT), String(MESSAGES), "25"]);
    const clientCode = await exitWithin(client, 10_000);
    const echoes = (await client.stdout()).trim().split("\n").sort();
    expect(
      { code: clientCode, echoes },
      `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`,
    ).toEqual({ code: 0, echoes: Array.from({ length: MESSAGES }, (_, i) => `echo msg ${i}`) });

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    echo.kill("SIGTERM");
    const [codeA, codeB] = await Promise.all([exitWithin(pa, 10_000), exitWithin(pb, 10_000)]);
    await exitWithin(echo, 5_000);
    expect(
      { exit: [codeA, codeB], leftInNamespace: [await emptyWithin(a.ns), await emptyWithin(b.ns)] },
      `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`,
    ).toEqual({ exit: [0, 0], leftInNamespace: ["", ""] });
  },
);
