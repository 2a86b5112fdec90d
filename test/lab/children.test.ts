// Hooks' children across real NATs: a SIGKILLed netpunch leaves no openvpn holding the punched port (the
// next round punches and tunnels again), and socat-forward hands neither side a netpunch packet.
// Needs root: `bun test test/lab/children.test.ts`.
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Host, type LabProcess, labPerTest } from "../../lab/lab.ts";
import {
  BUN,
  emptyWithin,
  exitWithin,
  openvpnHook,
  openvpnStaticKey,
  peerArgv,
  secretFile,
  startPeer,
  startServer,
  waitStderr,
} from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";
import { keyPair, PRIVATE_WG_RUN, setconfFile, wgHookArgs } from "../../lab/wg.ts";

// Real processes, tunnels and namespaces: far slower than bun test's 5 s default.
const labs = labPerTest({ timeoutMs: 90_000 });

const READY = /Initialization Sequence Completed/g;
const tunnelUp = (p: LabProcess, times = 1) =>
  waitStderr(p, new RegExp(`(${READY.source}[^]*){${times}}`), 40_000);

labs.test(
  "SIGKILL of netpunch: its openvpn goes too, and the next netpunch on the same --local tunnels again",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const key = openvpnStaticKey();
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
    await startServer(l, server, secret);
    const peer = (h: Host, role: "a" | "b", local: string, remote: string) =>
      startPeer(l, h, role, serverIp, secret, ["--loop", ...openvpnHook(key, local, remote, 4)]);
    const pa = peer(a.host, "a", "198.18.200.1", "198.18.200.2");
    const pb = peer(b.host, "b", "198.18.200.2", "198.18.200.1");
    await Promise.all([tunnelUp(pa), tunnelUp(pb)]);

    pa.kill("SIGKILL"); // no handler runs: only the watchdog can stop openvpn
    await pa.exited;
    // The grace is 5 s; openvpn leaves on SIGTERM in well under one.
    expect(await emptyWithin(a.host.ns, 7_000), pa.output().stderr).toBe("");

    // B's openvpn ends by --ping-exit, B punches again (--loop), and a new A gets the port.
    const again = peer(a.host, "a", "198.18.200.1", "198.18.200.2");
    await Promise.all([tunnelUp(again), tunnelUp(pb, 2)]);
    expect(again.output().stderr).not.toContain("E_PORT_IN_USE");
    const ping = l.exec(a.host, ["ping", "-n", "-c", "3", "-W", "2", "198.18.200.2"]);
    expect(ping.stdout).toMatch(/[1-3] received/);

    again.kill("SIGTERM");
    pb.kill("SIGTERM");
    expect([await exitWithin(again, 10_000), await exitWithin(pb, 10_000)]).toEqual([0, 0]);
  },
);

const SERVICE_PORT = 9007; // the service on A's loopback
const LISTEN_PORT = 9008; // where B's local client sends

/** UDP echo on 127.0.0.1:PORT that prints the first 3 bytes (hex) of every datagram; bounded by MS. */
const RECORDING_ECHO = `
const [port, ms] = process.argv.slice(2).map(Number);
const s = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port,
  socket: {
    data(sock, data, fromPort, fromAddr) {
      console.log("got " + Buffer.from(data.subarray(0, 3)).toString("hex"));
      sock.send(data, fromPort, fromAddr);
    },
  },
});
console.log("echo listening " + s.port);
await Bun.sleep(ms);
s.close();
`;

/** Sends "msg I" (I < COUNT) every 200 ms until all are echoed (at most TRIES rounds); prints every datagram. */
const RECORDING_CLIENT = `
const [port, count, tries] = process.argv.slice(2).map(Number);
const got = new Set();
const s = await Bun.udpSocket({
  hostname: "127.0.0.1",
  socket: {
    data(_sock, data) {
      console.log("recv " + Buffer.from(data.subarray(0, 3)).toString("hex"));
      got.add(data.toString());
    },
  },
});
for (let round = 0; round < tries && got.size < count; round++) {
  for (let i = 0; i < count; i++) if (!got.has("msg " + i)) s.send("msg " + i, port, "127.0.0.1");
  await Bun.sleep(200);
}
await Bun.sleep(1000); // echoes of resent messages are still on the 400 ms path: socat fails writing to a closed port
s.close();
process.exit([...Array(count).keys()].every((i) => got.has("msg " + i)) ? 0 : 1);
`;

labs.test(
  "socat-forward over a 200 ms path: neither the service nor the client ever sees a netpunch packet",
  async () => {
    const l = labs.create();
    const secret = secretFile();
    const work = labs.tempDir("netpunch-children-");
    writeFileSync(join(work, "echo.ts"), RECORDING_ECHO);
    writeFileSync(join(work, "client.ts"), RECORDING_CLIENT);
    // A delayed path stretches the CLOSE burst, so late punching packets do reach the port after the punch.
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat", { delayMs: 100 });
    await startServer(l, server, secret);
    const echo = l.spawn(a.host, [BUN, join(work, "echo.ts"), String(SERVICE_PORT), "40000"]);
    await echo.waitFor(/^echo listening /m);
    const fwd = (h: Host, role: "a" | "b", opt: string[]) =>
      startPeer(l, h, role, serverIp, secret, ["--timeout", "20", "--hook", "socat-forward", ...opt]);
    const pa = fwd(a.host, "a", ["--forward-to", `127.0.0.1:${SERVICE_PORT}`]);
    const pb = fwd(b.host, "b", ["--forward-listen", `127.0.0.1:${LISTEN_PORT}`]);
    await Promise.all([waitStderr(pa, /started socat/, 25_000), waitStderr(pb, /started socat/, 25_000)]);

    const client = l.spawn(b.host, [BUN, join(work, "client.ts"), String(LISTEN_PORT), "3", "40"]);
    const code = await exitWithin(client, 15_000);
    const received = (await client.stdout()).trim().split("\n");
    const served = echo
      .output()
      .stdout.split("\n")
      .filter((s) => s.startsWith("got "));
    const logs = `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`;
    expect(code, logs).toBe(0);
    // "msg" is 6d7367; a netpunch packet starts with 4e5002.
    expect({ served: [...new Set(served)], received: [...new Set(received)] }, logs).toEqual({
      served: ["got 6d7367"],
      received: ["recv 6d7367"],
    });

    pa.kill("SIGTERM");
    pb.kill("SIGTERM");
    echo.kill("SIGTERM");
    const codes = [await exitWithin(pa, 10_000), await exitWithin(pb, 10_000)];
    await exitWithin(echo, 5_000);
    expect(codes, `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`).toEqual([0, 0]);
  },
);

labs.test(
  "openvpn, wireguard-go and socat run with no NETPUNCH_SECRET and no copy of the secret in their environment",
  async () => {
    const l = labs.create();
    const text = `lab-env-secret-${crypto.randomUUID()}`; // 51 bytes: no short-secret warning
    const secret = secretFile(text);
    // Both ways a secret can sit in netpunch's own environment: by name, and copied into another variable.
    const env = { NETPUNCH_SECRET: text, NP_TEST_COPY: `copy-${text}-copy` };
    const { server, serverIp, a, b } = await serverAndPair(l, "nat", "nat");
    await startServer(l, server, secret);
    const keys = labs.tempDir("netpunch-env-");
    const ka = keyPair(l, a.host);
    const kb = keyPair(l, b.host);
    const ovpn = openvpnStaticKey();
    // Each is stopped once its tunnel is up (a stop mid-setup is a hook failure, exit 1).
    const runs: { program: string; ready: RegExp; hook: (role: "a" | "b") => string[]; wrap?: string[] }[] = [
      {
        program: "openvpn",
        ready: new RegExp(READY.source),
        hook: (role) =>
          role === "a"
            ? openvpnHook(ovpn, "198.18.200.1", "198.18.200.2")
            : openvpnHook(ovpn, "198.18.200.2", "198.18.200.1"),
      },
      {
        program: "wireguard-go",
        ready: /handshake with/,
        wrap: PRIVATE_WG_RUN,
        hook: (role) =>
          role === "a"
            ? wgHookArgs({
                partnerPub: kb.pub,
                config: setconfFile(keys, "a", ka.priv, kb.pub, "198.18.201.2"),
                address: "198.18.201.1/24",
              })
            : wgHookArgs({
                partnerPub: ka.pub,
                config: setconfFile(keys, "b", kb.priv, ka.pub, "198.18.201.1"),
                address: "198.18.201.2/24",
              }),
      },
      {
        program: "socat",
        ready: /started socat/,
        hook: (role) => [
          "--hook",
          "socat-forward",
          ...(role === "a"
            ? ["--forward-to", `127.0.0.1:${SERVICE_PORT}`]
            : ["--forward-listen", `127.0.0.1:${LISTEN_PORT}`]),
        ],
      },
    ];
    const seen: Record<string, { secretName: boolean; secretBytes: boolean; hasPath: boolean }[]> = {};
    for (const { program, ready, hook, wrap = [] } of runs) {
      const peer = (h: Host, role: "a" | "b") =>
        l.spawn(h, [...wrap, ...peerArgv(role, serverIp, secret, hook(role))], { env });
      const pa = peer(a.host, "a");
      const pb = peer(b.host, "b");
      const started = new RegExp(`started ${program} \\(pid (\\d+)\\)`);
      await Promise.all([waitStderr(pa, ready, 30_000), waitStderr(pb, ready, 30_000)]);
      seen[program] = [pa, pb].map((p) => {
        const pid = p.output().stderr.match(started)?.[1];
        const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
        return {
          secretName: environ.includes("NETPUNCH_SECRET"),
          secretBytes: environ.includes(text),
          hasPath: /(^|\0)PATH=/.test(environ),
        };
      });
      pa.kill("SIGTERM");
      pb.kill("SIGTERM");
      const codes = [await exitWithin(pa, 10_000), await exitWithin(pb, 10_000)];
      expect(codes, `--- a ---\n${pa.output().stderr}\n--- b ---\n${pb.output().stderr}`).toEqual([0, 0]);
    }
    const clean = { secretName: false, secretBytes: false, hasPath: true };
    expect(seen).toEqual({ openvpn: [clean, clean], "wireguard-go": [clean, clean], socat: [clean, clean] });
  },
);
