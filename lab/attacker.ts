// An attacker without the secret, for the lab's attack tests: it captures whole netpunch packets on a link
// and sends them again, from its own address or with a forged source. Drives attacker.py inside namespaces.
//
// Only what every protocol version keeps is relied on: a netpunch packet starts with "NP", a version byte
// and a type byte. Anything past those is opaque bytes to the attacker.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";

const ATTACKER = join(import.meta.dir, "attacker.py");
/** Debian's python3 first, as lab.ts does: a pyenv shim may depend on the caller's cwd and environment. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Type bytes (offset 3) the attacks look for. */
export const NP_TYPE = { register: 1, match: 3 } as const;

export interface Captured {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The whole UDP payload, hex. */
  payload: string;
}

export interface SniffFilter {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Only netpunch packets ("NP") with this type byte. */
  npType?: number;
}

export interface Sniffer {
  readonly process: LabProcess;
  /** The packets captured so far. */
  packets(): Captured[];
  /** Resolves with the first `n` captured packets; rejects with what was seen when `timeoutMs` passes. */
  waitFor(n: number, timeoutMs: number): Promise<Captured[]>;
  /** Stops the capture (by its PID) and returns everything it captured. */
  stop(): Promise<Captured[]>;
}

function parseLines(stdout: string): Captured[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Captured);
}

/**
 * Captures UDP packets arriving on any interface of `host`'s namespace (a router sees each forwarded packet
 * once), bounded by `maxCount` packets and `timeoutMs`.
 */
export async function sniff(
  lab: Lab,
  host: Host,
  filter: SniffFilter,
  maxCount: number,
  timeoutMs: number,
): Promise<Sniffer> {
  const argv = [PYTHON, ATTACKER, "sniff", String(maxCount), String(timeoutMs)];
  if (filter.src) argv.push("--src", filter.src);
  if (filter.dst) argv.push("--dst", filter.dst);
  if (filter.sport !== undefined) argv.push("--sport", String(filter.sport));
  if (filter.dport !== undefined) argv.push("--dport", String(filter.dport));
  if (filter.npType !== undefined) argv.push("--np-type", String(filter.npType));
  const p = lab.spawn(host, argv);
  await p.waitFor(/^ready$/m);
  const packets = () => parseLines(p.output().stdout);
  return {
    process: p,
    packets,
    async waitFor(n, waitMs) {
      const deadline = Date.now() + waitMs;
      while (packets().length < n) {
        if (Date.now() > deadline || p.proc.exitCode !== null) {
          throw new Error(
            `sniffer on ${host.name} (${JSON.stringify(filter)}): ${packets().length} of ${n} packets` +
              ` after ${waitMs} ms\n${p.output().stderr}`,
          );
        }
        await Bun.sleep(20);
      }
      return packets().slice(0, n);
    },
    async stop() {
      await Bun.sleep(100); // packets in flight reach the capture
      p.kill("SIGTERM");
      await p.exited;
      return parseLines(await p.stdout());
    },
  };
}

/** Sends `payloadHex` from `host` with the forged source `src` ("IP:PORT") to `dst`, `count` times. */
export function injectSpoofed(
  lab: Lab,
  host: Host,
  src: string,
  dst: string,
  payloadHex: string,
  count = 3,
  intervalMs = 50,
): void {
  const r = lab.exec(host, [
    PYTHON,
    ATTACKER,
    "inject",
    src,
    dst,
    payloadHex,
    String(count),
    String(intervalMs),
  ]);
  if (r.code !== 0) throw new Error(`inject from ${host.name} failed (${r.code}): ${r.stderr}`);
}

export interface Replayer {
  readonly process: LabProcess;
  /** Everything that came back to the attacker's socket so far. */
  received(): Captured[];
  /** Stops listening (by PID) and returns everything received. */
  stop(): Promise<Captured[]>;
}

/**
 * From `host`'s own address and UDP `localPort`: sends `payloadHex` to `dst` `count` times, then records
 * every datagram that comes back to that socket for up to `listenMs`.
 */
export async function replayAndListen(
  lab: Lab,
  host: Host,
  localPort: number,
  dst: string,
  payloadHex: string,
  listenMs: number,
  count = 2,
): Promise<Replayer> {
  const p = lab.spawn(host, [
    PYTHON,
    ATTACKER,
    "replay",
    String(localPort),
    dst,
    payloadHex,
    String(count),
    "100",
    String(listenMs),
    "1000",
  ]);
  await p.waitFor(/^sent$/m);
  return {
    process: p,
    received: () => parseLines(p.output().stdout),
    async stop() {
      p.kill("SIGTERM");
      await p.exited;
      return parseLines(await p.stdout());
    },
  };
}

/** The type byte of a captured netpunch packet (offset 3), or -1 if it is not one. */
export function npType(packet: Captured): number {
  return packet.payload.startsWith("4e50") && packet.payload.length >= 8
    ? Number.parseInt(packet.payload.slice(6, 8), 16)
    : -1;
}
