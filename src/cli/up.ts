import { defineCommand } from "citty";
import type { ConsolaInstance } from "consola";
import { isNetpunchError } from "../errors.ts";
import { withholdSecret } from "../hooks/env.ts";
import { HEALTHY } from "../metrics/health.ts";
import { LastUp, tunnelFamilies } from "../metrics/tunnels.ts";
import { systemClock } from "../sys/clock.ts";
import { watchAddresses } from "../up/addresses.ts";
import { RETRYABLE_CODES } from "../up/retry.ts";
import { statusDocument } from "../up/status-document.ts";
import { serveStatus } from "../up/status-server.ts";
import { type Supervision, superviseAll } from "../up/supervise-all.ts";
import { checkArgs, logArgs } from "./common.ts";
import { loadConfig } from "./config/load.ts";
import { CliFail } from "./hints.ts";
import { logFormatArgs, logFormatOption, makeFormatLogger } from "./logger.ts";
import { metricsArgs, metricsListen, type RunningMetrics, startMetrics } from "./metrics-option.ts";
import { type PreparedTunnel, prepareTunnel } from "./up-tunnel.ts";

export const upArgs = {
  config: {
    type: "positional",
    required: true,
    valueHint: "NAME|FILE",
    description:
      "a config's name, looked up as NAME.toml in $XDG_CONFIG_HOME/netpunch, then /etc/netpunch; or a .toml file's path",
  },
  ...metricsArgs,
  ...logFormatArgs,
  ...logArgs,
} as const;

/**
 * Failures another round may mend in a service that runs for months: those `--loop` retries, and a full
 * server (it frees sessions as pairs finish). A wrong secret, a refused key or a bad option stay failed.
 */
const retryable = (e: unknown): boolean =>
  isNetpunchError(e) && (RETRYABLE_CODES.has(e.code) || e.code === "E_SERVER_FULL");

/** `netpunch up CONFIG`: one process keeps every tunnel of the config up, and answers `netpunch status`. */
export const upCommand = (signal: AbortSignal) =>
  defineCommand({
    meta: {
      name: "up",
      description:
        "keep every tunnel of a config file up: punch, run its hook, watch it, punch again when it drops",
    },
    args: upArgs,
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, upArgs);
      const logger = makeFormatLogger({
        format: logFormatOption(args["log-format"]),
        quiet: args.quiet,
        verbose: args.verbose,
      });
      await runUp(String(args.config), logger, signal, args.metrics);
    },
  });

async function runUp(
  spec: string,
  logger: ConsolaInstance,
  signal: AbortSignal,
  metricsAddress?: string,
): Promise<void> {
  // Checked before the config is read: a typo in the option is the first thing said.
  const metricsAt = metricsAddress !== undefined ? metricsListen(metricsAddress) : undefined;
  const config = await loadConfig(spec, { logger });
  if (config.tunnels.length === 0) throw CliFail.noTunnels(config.file);
  withholdSecret(config.secret); // no hook's child gets it
  let supervision: Supervision | undefined;
  // The status socket first: it is also the lock that keeps a second `up` of this config from punching.
  const status = await serveStatus({
    runtimeDir: config.runtimeDir,
    config: config.name,
    document: () => statusDocument(config.name, supervision?.rows() ?? [], Date.now()),
  });
  const prepared: PreparedTunnel[] = [];
  const lastUp = new LastUp();
  let metrics: RunningMetrics | undefined;
  try {
    if (metricsAt)
      metrics = startMetrics({
        listen: metricsAt,
        logger,
        families: () => tunnelFamilies(supervision?.rows() ?? [], lastUp),
        // Serving while the tunnels are supervised; a tunnel's own trouble shows in its state, not here.
        health: async () =>
          supervision ? HEALTHY : { ok: false, reason: "netpunch up is preparing its tunnels" },
      });
    for (const t of config.tunnels)
      prepared.push(await prepareTunnel(config, t, logger.withTag(t.name), signal));
    const own = new Set(prepared.flatMap((p) => p.interfaces));
    const watcher = watchAddresses({ clock: systemClock, ignore: (ifname) => own.has(ifname) });
    supervision = superviseAll({
      tunnels: prepared.map((p) => p.supervised),
      clock: systemClock,
      addressChanges: watcher.subscribe,
      signal,
      retryable,
      onStatus: (name, s) => lastUp.onStatus(name, s),
      onLog: (name, level, message) => logger.withTag(name)[level](message),
    });
    logger.info(
      `${config.file}: ${config.tunnels.length} tunnel(s): ${config.tunnels.map((t) => t.name).join(", ")}; status on ${status.path}`,
    );
    await supervision.done;
    watcher.close();
  } finally {
    metrics?.close();
    for (const p of prepared) await p.close();
    status.close();
  }
}
