// Standard STUN across real kernel NAT: stunBinding() in a peer namespace behind MASQUERADE asks coturn's
// STUN server, and netpunch's own responder, for its public address. Needs root and Debian's coturn
// (`turnserver`): `bun test test/lab/stun.test.ts`.
import { describe, expect } from "bun:test";
import { join } from "node:path";
import { startCoturn } from "../../lab/coturn.ts";
import { type Host, type Lab, type LabProcess, labPerTest } from "../../lab/lab.ts";

const BUN = process.execPath;
const SRC = join(import.meta.dir, "../../src");
const STUN_PORT = 3478;
const PEER_PORT = 10000;

// Small programs run with `bun -e CODE ARGS...` inside a namespace (process.argv is [bun, ...ARGS]).

/** ARGS: server-ip server-port local-port timeout-ms. Prints the result as JSON, or "[CODE] message" and exits 1. */
const CLIENT = `
const { stunBinding } = await import(${JSON.stringify(join(SRC, "stun/client.ts"))});
const [host, port, localPort, timeoutMs] = process.argv.slice(1);
try {
  const r = await stunBinding({
    server: { host, port: Number(port) },
    local: { host: "0.0.0.0", port: Number(localPort) },
    timeoutMs: Number(timeoutMs),
  });
  console.log(JSON.stringify(r));
} catch (e) {
  console.log(\`[\${e.code}] \${e.message}\`);
  process.exit(1);
}`;

/** ARGS: listen-ip port. netpunch's responder on a UDP socket; logs each request; exits by itself after 40 s. */
const RESPONDER = `
const { openUdp } = await import(${JSON.stringify(join(SRC, "transport/udp.ts"))});
const { stunAnswer } = await import(${JSON.stringify(join(SRC, "stun/responder.ts"))});
const [host, port] = process.argv.slice(1);
const socket = await openUdp({ host, port: Number(port) }, (data, from) => {
  const answer = stunAnswer(data, from);
  if (answer) socket.send(answer, from);
  console.log(\`\${answer ? "answered" : "dropped"} \${from.host}:\${from.port} in=\${data.length} out=\${answer?.length ?? 0}\`);
});
console.log("listening " + socket.local.port);
setTimeout(() => { socket.close(); process.exit(0); }, 40_000);`;

/** ARGS: server-ip server-port. Sends one bare 20-byte Binding request and prints how many datagrams came back in 1.5 s. */
const BARE_REQUEST = `
const { openUdp } = await import(${JSON.stringify(join(SRC, "transport/udp.ts"))});
const { encodeStun, newTransactionId } = await import(${JSON.stringify(join(SRC, "stun/codec.ts"))});
const [host, port] = process.argv.slice(1);
let got = 0;
const socket = await openUdp({ host: "0.0.0.0", port: 0 }, () => { got++; });
const bare = encodeStun({ cls: "request", transactionId: newTransactionId() });
socket.send(bare, { host, port: Number(port) });
await Bun.sleep(1500);
socket.close();
console.log(\`sent \${bare.length} got \${got}\`);`;

interface Mapping {
  mapped: { host: string; port: number };
  local: { host: string; port: number };
  rttMs: number;
}

const labs = labPerTest();

/** A public STUN server host, a gateway with MASQUERADE, and a peer on the gateway's LAN. */
async function topology(opts: { double?: boolean } = {}) {
  const l = labs.create();
  const server = l.host("stun");
  const serverIp = await l.attachPublic(server);
  const peer = l.host("peer");
  let publicIp: string;
  if (opts.double) {
    // Carrier-grade NAT: the peer's home router is itself behind the provider's NAT.
    const cgn = l.host("cgn");
    publicIp = await l.attachPublic(cgn);
    const cpe = l.host("cpe");
    l.lan(cgn, "198.19.1", [cpe]);
    l.lan(cpe, "192.0.2", [peer]);
    l.masquerade(cgn);
    l.masquerade(cpe);
  } else {
    const gw = l.host("gw");
    publicIp = await l.attachPublic(gw);
    l.lan(gw, "192.0.2", [peer]);
    l.masquerade(gw);
  }
  return { l, server, serverIp, peer, publicIp };
}

async function startResponder(l: Lab, host: Host, ip: string): Promise<LabProcess> {
  const p = l.spawn(host, [BUN, "-e", RESPONDER, ip, String(STUN_PORT)]);
  await p.waitFor(/^listening /m, 10_000);
  return p;
}

/** Runs stunBinding in the peer's namespace; bounded by its own timeout plus a kill. */
async function binding(l: Lab, peer: Host, serverIp: string, timeoutMs = 10_000) {
  const p = l.spawn(peer, [
    BUN,
    "-e",
    CLIENT,
    serverIp,
    String(STUN_PORT),
    String(PEER_PORT),
    String(timeoutMs),
  ]);
  const killer = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 10_000);
  const code = await p.exited;
  clearTimeout(killer);
  const stdout = (await p.stdout()).trim();
  const stderr = (await p.stderr()).trim();
  return { code, stdout, stderr };
}

async function mapping(l: Lab, peer: Host, serverIp: string): Promise<Mapping> {
  const r = await binding(l, peer, serverIp);
  if (r.code !== 0)
    throw new Error(`stunBinding failed (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as Mapping;
}

describe("stunBinding against coturn (turnserver --stun-only)", () => {
  labs.test(
    "behind MASQUERADE: the mapped address is the gateway's public IP and the peer's port",
    async () => {
      const { l, server, serverIp, peer, publicIp } = await topology();
      const coturn = await startCoturn(l, server, serverIp);
      const r = await mapping(l, peer, serverIp);
      expect(r.mapped).toEqual({ host: publicIp, port: PEER_PORT }); // MASQUERADE keeps a free source port
      expect(r.local).toEqual({ host: "0.0.0.0", port: PEER_PORT });
      expect(coturn.proc.exitCode).toBeNull();
    },
  );

  labs.test("behind two NATs in series: the mapped address is the outer (carrier) gateway's", async () => {
    const { l, server, serverIp, peer, publicIp } = await topology({ double: true });
    await startCoturn(l, server, serverIp);
    const r = await mapping(l, peer, serverIp);
    expect(r.mapped.host).toBe(publicIp);
  });
});

describe("stunBinding against netpunch's own responder", () => {
  labs.test("behind MASQUERADE: answered, and the answer was no larger than the request", async () => {
    const { l, server, serverIp, peer, publicIp } = await topology();
    const responder = await startResponder(l, server, "0.0.0.0");
    const r = await mapping(l, peer, serverIp);
    expect(r.mapped).toEqual({ host: publicIp, port: PEER_PORT });
    const line = /^answered (\S+) in=(\d+) out=(\d+)$/m.exec(responder.output().stdout);
    expect(line?.[1]).toBe(`${publicIp}:${PEER_PORT}`);
    expect(Number(line?.[3])).toBeLessThanOrEqual(Number(line?.[2]));
  });

  labs.test("a bare 20-byte request gets no answer (anti-amplification)", async () => {
    const { l, server, serverIp, peer } = await topology();
    const responder = await startResponder(l, server, serverIp);
    const r = l.exec(peer, [BUN, "-e", BARE_REQUEST, serverIp, String(STUN_PORT)]);
    expect(r.stdout.trim()).toBe("sent 20 got 0");
    // exec() blocked this process, so the responder's log is read only now.
    await responder.waitFor(/^dropped \S+ in=20 out=0$/m, 3_000);
    expect(responder.output().stdout).not.toContain("answered");
  });

  labs.test("nothing listening: E_SERVER_SILENT names the ICMP port unreachable", async () => {
    const { l, serverIp, peer } = await topology();
    const r = await binding(l, peer, serverIp, 1600);
    expect(r.code).toBe(1);
    expect(r.stdout).toStartWith("[E_SERVER_SILENT]");
    expect(r.stdout).toContain("ICMP port unreachable");
  });
});
