// Helpers to run the real netpunch CLI inside lab namespaces.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";

export const BUN = process.execPath;
export const CLI = join(import.meta.dir, "../src/cli/main.ts");
export const UDP_TOOL = join(import.meta.dir, "udp-tool.ts");
export const SERVER_PORT = 10001;
export const PEER_PORT = 10000;

export function secretFile(secret = `lab-secret-${Math.random().toString(36).slice(2)}`): string {
  const dir = mkdtempSync(join(tmpdir(), "netpunch-lab-"));
  const file = join(dir, "secret.txt");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

/** Polls a process's stderr (where netpunch logs) for a pattern, failing with its output on timeout or exit. */
export async function waitStderr(p: LabProcess, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.output().stderr)) {
    if (Date.now() > deadline || p.proc.exitCode !== null) {
      throw new Error(
        `waiting for ${pattern}: ${p.proc.exitCode !== null ? `exited ${p.proc.exitCode}` : "timeout"}\n${p.output().stderr}`,
      );
    }
    await Bun.sleep(20);
  }
}

/** `--server IP:10001 --secret-file SECRET`: where a lab client finds the rendezvous server. */
export const serverOptions = (serverIp: string, secret: string): string[] => [
  "--server",
  `${serverIp}:${SERVER_PORT}`,
  "--secret-file",
  secret,
];

export async function startServer(
  lab: Lab,
  host: Host,
  secret: string,
  extra: string[] = [],
): Promise<LabProcess> {
  const p = lab.spawn(host, [
    BUN,
    CLI,
    "serve",
    "--listen",
    `0.0.0.0:${SERVER_PORT}`,
    "--secret-file",
    secret,
    ...extra,
  ]);
  await waitStderr(p, /listening on UDP/);
  return p;
}

/** `connect --role ROLE --server SERVER_IP:10001 --local :10000 --secret-file SECRET`: a lab peer's arguments. */
export function connectArgs(role: "a" | "b", serverIp: string, secret: string): string[] {
  return [
    "connect",
    "--role",
    role,
    "--server",
    `${serverIp}:${SERVER_PORT}`,
    "--local",
    `:${PEER_PORT}`,
    "--secret-file",
    secret,
  ];
}

/** The `netpunch connect` command line of a lab peer on --local :10000, with `extra` options at the end. */
export function peerArgv(role: "a" | "b", serverIp: string, secret: string, extra: string[] = []): string[] {
  return [
    BUN,
    CLI,
    ...connectArgs(role, serverIp, secret),
    // --json belongs to the print hook, the default; with other hooks it would be an unknown option.
    ...(extra.includes("--hook") ? [] : ["--json"]),
    "--verbose",
    ...extra,
  ];
}

export function startPeer(
  lab: Lab,
  host: Host,
  role: "a" | "b",
  serverIp: string,
  secret: string,
  extra: string[] = [],
): LabProcess {
  return lab.spawn(host, peerArgv(role, serverIp, secret, extra));
}

export interface PeerOutcome {
  code: number;
  json: {
    lport: number;
    rhost: string;
    rport: number;
    via: string;
    candidate: string;
    rttMs: number;
    publicAddr: string;
  };
  stderr: string;
}

/** Waits for a peer, bounded: a hung peer is killed and the test fails with its log. */
export async function finish(p: LabProcess, timeoutMs = 30_000): Promise<PeerOutcome> {
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  const stdout = await p.stdout();
  const stderr = await p.stderr();
  if (code !== 0) throw new Error(`peer exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
  return { code, json: JSON.parse(stdout.trim()), stderr };
}

/**
 * Proves the punched path is real after netpunch has exited, the way a tunnel would use it: a datagram sent
 * from the sender's local port to the address netpunch reported reaches the receiver's local port, from the
 * address netpunch reported on the receiver's side.
 */
export async function provePath(
  lab: Lab,
  from: Host,
  to: Host,
  dest: string,
  expectSource: string,
  /** The rendezvous server may still resend a MATCH whose every ACK was lost; that is not the path. */
  serverIp?: string,
  /** The local ports netpunch reported (a birthday socket's port differs from --local's). */
  ports: { from?: number; to?: number } = {},
): Promise<void> {
  const toPort = ports.to ?? PEER_PORT;
  const listener = lab.spawn(to, [BUN, UDP_TOOL, "listen", String(toPort), "5", "3000"]);
  await listener.waitFor(/^listening /m);
  lab.exec(from, [BUN, UDP_TOOL, "send", String(ports.from ?? PEER_PORT), "5", "50", dest]);
  await listener.exited;
  const got = [...(await listener.stdout()).matchAll(/^from (\S+) (\d+) /gm)]
    .map((m) => `${m[1]}:${m[2]}`)
    .filter((s) => serverIp === undefined || !s.startsWith(`${serverIp}:`));
  if (got.length === 0)
    throw new Error(`nothing arrived at ${to.name}:${toPort} from ${from.name} via ${dest}`);
  if (!got.every((s) => s === expectSource))
    throw new Error(`expected datagrams from ${expectSource}, got ${got.join(", ")}`);
}

/** A fresh OpenVPN static key (openvpn --genkey), in a temp folder. */
export function openvpnStaticKey(): string {
  const key = join(mkdtempSync(join(tmpdir(), "netpunch-ovpn-")), "static.key");
  const gen = Bun.spawnSync(["openvpn", "--genkey", "secret", key]);
  if (gen.exitCode !== 0) throw new Error(`openvpn --genkey failed: ${gen.stderr}`);
  return key;
}

/**
 * `--hook openvpn -- ...`: the original README's openvpn options with the tunnel addresses from
 * 198.18.0.0/15, and a fast ping so a dead tunnel is noticed within a test.
 */
export function openvpnHook(key: string, local: string, remote: string, pingExit = 5): string[] {
  return [
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
    "--auth-nocache",
    "--verb",
    "3",
    "--ping",
    "1",
    "--ping-exit",
    String(pingExit),
  ];
}

/** Waits for a process to exit, bounded: past the limit it is SIGKILLed and -1 is returned. */
export async function exitWithin(p: LabProcess, ms: number): Promise<number> {
  const timeout = Bun.sleep(ms).then(() => -1);
  const code = await Promise.race([p.exited, timeout]);
  if (code === -1) {
    p.kill("SIGKILL");
    await p.exited;
  }
  return code;
}

export const nsPids = (ns: string) => Bun.spawnSync(["ip", "netns", "pids", ns]).stdout.toString().trim();

/**
 * Polls until nothing runs in the namespace any more, bounded; returns what is left. A process that has
 * just exited may still be listed until it is reaped (PID 1 here reaps slowly), so a single look can lie.
 */
export async function emptyWithin(ns: string, ms = 5_000): Promise<string> {
  const deadline = Date.now() + ms;
  let left = nsPids(ns);
  while (left !== "" && Date.now() < deadline) {
    await Bun.sleep(100);
    left = nsPids(ns);
  }
  return left;
}
