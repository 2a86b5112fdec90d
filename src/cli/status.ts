import { defineCommand } from "citty";
import { isNetpunchError } from "../errors.ts";
import { configName, defaultRuntimeDir, statusSocketPath } from "../up/paths.ts";
import { readStatus, statusSockets } from "../up/status-client.ts";
import type { StatusDocument } from "../up/status-document.ts";
import type { TunnelRow } from "../up/supervise-all.ts";
import { checkArgs } from "./common.ts";
import { configDirs } from "./config/load.ts";
import { CliFail } from "./hints.ts";

export const statusArgs = {
  config: {
    type: "positional",
    required: false,
    description: "the config whose tunnels to show (its name or path); without it, every running netpunch up",
  },
  json: {
    type: "boolean",
    description: "print the status as JSON: the config's document, or without CONFIG an array of them",
  },
  "runtime-dir": {
    type: "string",
    valueHint: "DIR",
    description:
      "where netpunch up keeps its status sockets (default: $RUNTIME_DIRECTORY, /run/netpunch for root, else $XDG_RUNTIME_DIR/netpunch)",
  },
} as const;

export const statusCommand = defineCommand({
  meta: {
    name: "status",
    description: "show the tunnels of a running netpunch up: state, path, addresses, RTT, rounds, last error",
  },
  args: statusArgs,
  async run({ args, rawArgs }) {
    checkArgs(rawArgs, statusArgs);
    const found = args.config ? await configPlace(String(args.config)) : undefined;
    const dir = args["runtime-dir"] || found?.runtimeDir || defaultRuntimeDir();
    const config = args.config ? (found?.name ?? configName(String(args.config))) : undefined;
    const docs: StatusDocument[] = [];
    if (config !== undefined) docs.push(await readStatus(statusSocketPath(dir, config)));
    else {
      for (const path of statusSockets(dir)) {
        try {
          docs.push(await readStatus(path));
        } catch (e) {
          // A socket left by a dead process is no running config; the next `up` replaces it.
          if (!isNetpunchError(e) || e.code !== "E_NOT_RUNNING") throw e;
        }
      }
      if (docs.length === 0) throw CliFail.nothingRunning(dir);
    }
    if (args.json) {
      process.stdout.write(`${JSON.stringify(config !== undefined ? docs[0] : docs, null, 2)}\n`);
      return;
    }
    process.stdout.write(statusText(docs, Date.now()));
  },
});

/**
 * The config's own directories when its file is found (the runtime_dir it gives `up`), else none: a config
 * that `up` found elsewhere (another user's XDG directory) is still asked for by name in the default place.
 */
export async function configPlace(
  spec: string,
): Promise<{ name: string; stateDir: string; runtimeDir: string } | undefined> {
  try {
    return await configDirs(spec);
  } catch (e) {
    if (isNetpunchError(e) && e.detail.reason === "config-not-found") return undefined;
    throw e;
  }
}

const COLUMNS = ["tunnel", "state", "path", "remote", "rtt", "up since", "rounds", "last error"] as const;
/** Shown before "last error" only in a config with a tunnel whose proxy runs (the others' tables stay as they were). */
const PROXY_COLUMN = "proxy traffic";

/** The human view: one table per running config. Pure: the time comes in. */
export function statusText(docs: readonly StatusDocument[], now: number): string {
  return docs
    .map((d) => {
      const proxied = d.tunnels.some((t) => t.proxy);
      const withProxy = (r: readonly string[], cell: string) =>
        proxied ? [...r.slice(0, -1), cell, ...r.slice(-1)] : [...r];
      const head = withProxy(COLUMNS, PROXY_COLUMN);
      const rows = d.tunnels.map((t) => withProxy(cells(t, now), traffic(t)));
      return `${d.config} (pid ${d.pid}):\n${table([head, ...rows])}`;
    })
    .join("\n");
}

/** "out 12 (1.5 KiB), in 10 (980 B), 1 move": tunnel datagrams and their bytes each way; "-" without a proxy. */
function traffic(t: TunnelRow): string {
  const p = t.proxy;
  if (!p) return "-";
  const moves = p.moves === 1 ? "1 move" : `${p.moves} moves`;
  return `out ${p.packetsOut} (${bytes(p.bytesOut)}), in ${p.packetsIn} (${bytes(p.bytesIn)}), ${moves}`;
}

/** "980 B", "1.5 KiB", "12.3 MiB", "4.0 GiB": one decimal above bytes. */
export function bytes(n: number): string {
  const KIB = 1024;
  if (n < KIB) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / KIB;
  let i = 0;
  for (; v >= KIB && i < units.length - 1; i++) v /= KIB;
  return `${v.toFixed(1)} ${units[i]}`;
}

function cells(t: TunnelRow, now: number): string[] {
  const state =
    t.state === "backing-off" && t.retryAt !== undefined
      ? `backing off (${Math.max(0, Math.ceil((t.retryAt - now) / 1000))} s)`
      : t.state === "waiting"
        ? "waiting for the partner"
        : t.state;
  return [
    t.name,
    state,
    pathCell(t),
    t.remote ?? "-",
    t.rttMs !== undefined ? `${t.rttMs} ms` : "-",
    t.upSince !== undefined ? `${clockTime(t.upSince)} (${duration(now - t.upSince)})` : "-",
    t.repunches ? `${t.rounds} (${t.repunches} re-punches)` : String(t.rounds),
    t.lastError ? `[${t.lastError.code}] ${t.lastError.message}` : "-",
  ];
}

/** "relay", or with a proxy that moved: "direct (2 switches, last 03:40:12Z)" (`--json` says why). */
function pathCell(t: TunnelRow): string {
  const path = t.path ?? "-";
  const n = t.proxy?.switches ?? 0;
  const last = t.proxy?.lastSwitch;
  if (n === 0 || !last) return path;
  return `${path} (${n === 1 ? "1 switch" : `${n} switches`}, last ${clockTime(last.at)})`;
}

/** Columns padded to their widest cell; the last one is not padded (it may be long). */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `  ${line}\n`)
    .join("");
}

/** "03:40:12Z": the UTC time of day (the duration beside it says how long ago). */
const clockTime = (t: number): string => `${new Date(t).toISOString().slice(11, 19)}Z`;

/** "45s", "12m05s", "3h07m", "2d04h": two units at most. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3_600) % 24)}h`;
}
