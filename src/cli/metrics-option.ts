// `--metrics [HOST]:PORT` for serve and up: the option, its address, and the HTTP listener around a source
// of families. The families themselves are in src/metrics.
import type { ConsolaInstance } from "consola";
import { formatEndpoint, parseAddress } from "../addr.ts";
import { formatExposition, type MetricFamily } from "../metrics/exposition.ts";
import type { Health } from "../metrics/health.ts";
import { serveMetrics } from "../metrics/http.ts";
import { LagMeter } from "../metrics/lag.ts";
import { processFamilies } from "../metrics/process.ts";
import type { Endpoint } from "../types.ts";

/**
 * An empty host listens on loopback only: metrics say how busy a server is and which tunnels a host keeps,
 * so exposing them takes an explicit address (0.0.0.0:PORT).
 */
const DEFAULT_METRICS_HOST = "127.0.0.1";

export const metricsArgs = {
  metrics: {
    type: "string",
    valueHint: "[HOST]:PORT",
    description:
      "serve Prometheus metrics on http://HOST:PORT/metrics and a health check on /healthz (e.g. 127.0.0.1:9464; :PORT is loopback only)",
  },
} as const;

/** The --metrics address, checked like the other address options; an empty host is loopback. */
export function metricsListen(text: string): Endpoint {
  const parsed = parseAddress(text, "--metrics address", { allowEmptyHost: true });
  return { host: parsed.host || DEFAULT_METRICS_HOST, port: parsed.port };
}

export interface RunningMetrics {
  close(): void;
}

/**
 * Listens on `listen` and answers each scrape with `families()` and the process's own (memory, event-loop
 * lag); logs where. Stop it with close().
 */
export function startMetrics(o: {
  listen: Endpoint;
  families: () => MetricFamily[];
  health: () => Promise<Health>;
  logger: Pick<ConsolaInstance, "info">;
}): RunningMetrics {
  const lag = new LagMeter().start();
  const startedAt = performance.timeOrigin;
  let server: ReturnType<typeof serveMetrics>;
  try {
    server = serveMetrics({
      listen: o.listen,
      metrics: () =>
        formatExposition([
          ...o.families(),
          ...processFamilies({ memory: process.memoryUsage(), lag, startedAt }),
        ]),
      health: o.health,
    });
  } catch (e) {
    lag.stop();
    throw e;
  }
  o.logger.info(`metrics on http://${formatEndpoint(server.local)}/metrics, health on /healthz`);
  return {
    close() {
      server.close();
      lag.stop();
    },
  };
}
