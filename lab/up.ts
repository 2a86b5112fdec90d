// Helpers for lab tests of `netpunch up`: a config file per host, the supervisor process, and its status.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Host, Lab, LabProcess } from "./lab.ts";
import { BUN, CLI } from "./netpunch.ts";
import { PRIVATE_WG_RUN } from "./wg.ts";

export interface TunnelTable {
  role: "a" | "b";
  session: string;
  [key: string]: string | number | boolean | string[];
}

const tomlValue = (v: string | number | boolean | string[]): string =>
  Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(", ")}]` : JSON.stringify(v);

/**
 * Writes DIR/NAME.toml for one host, with its own state and runtime directories under DIR (the hosts of a
 * lab share one file system, as two instances on one machine would), and returns its path.
 */
export function writeConfig(
  dir: string,
  name: string,
  o: {
    servers: string[];
    secretFile: string;
    tunnels: Record<string, TunnelTable>;
    /** More top-level keys (server_tcp, tls_ca). */
    top?: Record<string, string>;
  },
): string {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const lines = [
    `server = ${tomlValue(o.servers)}`,
    ...Object.entries(o.top ?? {}).map(([k, v]) => `${k} = ${tomlValue(v)}`),
    `secret_file = ${JSON.stringify(o.secretFile)}`,
    `state_dir = ${JSON.stringify(join(home, "state"))}`,
    `runtime_dir = ${JSON.stringify(join(home, "run"))}`,
  ];
  for (const [tunnel, table] of Object.entries(o.tunnels)) {
    lines.push("", `[tunnel.${tunnel}]`);
    for (const [k, v] of Object.entries(table)) lines.push(`${JSON.stringify(k)} = ${tomlValue(v)}`);
  }
  const file = join(dir, `${name}.toml`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** `netpunch up FILE` in the host's namespace, with a private /run/wireguard (see PRIVATE_WG_RUN). */
export const startUp = (lab: Lab, host: Host, file: string, extra: string[] = []): LabProcess =>
  lab.spawn(host, [...PRIVATE_WG_RUN, BUN, CLI, "up", file, "--verbose", ...extra]);

export interface TunnelStatusLine {
  name: string;
  state: string;
  path?: string;
  remote?: string;
  rounds: number;
  repunches?: number;
  lastError?: { code?: string; message: string };
  partnerKey?: string;
}

/** `netpunch status FILE --json`, parsed; throws with what it printed when it fails. */
export function statusOf(lab: Lab, host: Host, file: string): TunnelStatusLine[] {
  const r = lab.exec(host, [BUN, CLI, "status", file, "--json"]);
  if (r.code !== 0) throw new Error(`netpunch status exited ${r.code}: ${r.stdout}${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { tunnels: TunnelStatusLine[] } | { tunnels: TunnelStatusLine[] }[];
  return Array.isArray(doc) ? doc.flatMap((d) => d.tunnels) : doc.tunnels;
}

/** Polls the status (every 250 ms, at most `timeoutMs`) until `ok` holds for it; returns it then. */
export async function waitStatus(
  lab: Lab,
  host: Host,
  file: string,
  ok: (tunnels: TunnelStatusLine[]) => boolean,
  timeoutMs = 30_000,
  what = "the status",
): Promise<TunnelStatusLine[]> {
  const deadline = Date.now() + timeoutMs;
  let last: TunnelStatusLine[] | string = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const s = statusOf(lab, host, file);
      last = s;
      if (ok(s)) return s;
    } catch (e) {
      last = (e as Error).message; // not listening yet
    }
    await Bun.sleep(250);
  }
  throw new Error(`waiting for ${what}: last status ${JSON.stringify(last)}`);
}

export const tunnelState = (tunnels: TunnelStatusLine[], name: string): TunnelStatusLine | undefined =>
  tunnels.find((t) => t.name === name);

/** The PIDs in a namespace whose /proc/PID/FILE passes `ok`: ours, by PID, never by name alone. */
function pidsWhere(ns: string, file: "comm" | "cmdline", ok: (text: string) => boolean): number[] {
  const out = Bun.spawnSync(["ip", "netns", "pids", ns]).stdout.toString().trim();
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      const r = Bun.spawnSync(["cat", `/proc/${pid}/${file}`], { stdout: "pipe", stderr: "ignore" });
      return ok(r.stdout.toString());
    });
}

/** The PIDs in a namespace whose command name is `comm` (e.g. wireguard-go, openvpn). */
export const pidsNamed = (ns: string, comm: string): number[] =>
  pidsWhere(ns, "comm", (t) => t.trim() === comm);

/** The PIDs in a namespace whose command line (arguments joined by spaces) is `cmdline`. */
export const pidsWithArgs = (ns: string, cmdline: string): number[] =>
  pidsWhere(ns, "cmdline", (t) => t.split("\0").filter(Boolean).join(" ") === cmdline);

/** Pings `ip` from the host until one answer comes (at most `tries` rounds of 1 s): true when one did. */
export function pingsWithin(lab: Lab, host: Host, ip: string, tries = 20): boolean {
  for (let i = 0; i < tries; i++) {
    if (lab.exec(host, ["ping", "-c", "1", "-W", "1", ip]).code === 0) return true;
  }
  return false;
}
