import { formatEndpoint } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.ts";
import type { Health } from "./health.ts";

/**
 * @default 10 s: a connection idle this long is closed. Prometheus scrapes every 15 to 60 s and may keep
 * its connection between scrapes; a stray client holds nothing for long.
 */
export const METRICS_IDLE_TIMEOUT_S = 10;
/**
 * @default 1 KiB: the most of a request body Bun accepts; nothing here reads one (GET and HEAD only), so any
 * larger body is refused before it is buffered.
 */
export const METRICS_MAX_BODY_BYTES = 1024;

export interface MetricsServerOptions {
  /** Where to listen (TCP), e.g. { host: "127.0.0.1", port: 9464 }; port 0 takes a free one. */
  listen: Endpoint;
  /** The exposition, made afresh for each scrape of /metrics. */
  metrics: () => string;
  /** What /healthz answers: 200 "ok" when healthy, 503 with the reason when not. */
  health: () => Promise<Health>;
}

export interface MetricsServer {
  /** Where it listens, its port chosen when 0 was asked. */
  readonly local: Endpoint;
  /** Stops listening; idempotent. */
  close(): void;
}

const text = (body: string, status: number, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });

/** The answer to one request: /metrics, /healthz, 404 for any other path, 405 for a method other than GET/HEAD. */
export async function answer(
  req: Request,
  o: Pick<MetricsServerOptions, "metrics" | "health">,
): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD")
    return text("method not allowed\n", 405, { allow: "GET, HEAD" });
  const path = new URL(req.url).pathname;
  if (path === "/metrics") return text(o.metrics(), 200, { "content-type": EXPOSITION_CONTENT_TYPE });
  if (path === "/healthz") {
    const h = await o.health();
    return h.ok ? text("ok\n", 200) : text(`${h.reason}\n`, 503);
  }
  return text("not found\n", 404);
}

/**
 * Serves /metrics (Prometheus text format 0.0.4) and /healthz over HTTP with Bun's server. Reads no request
 * body; a failing metrics function answers 500 rather than closing the listener.
 * @example
 * const m = serveMetrics({ listen: { host: "127.0.0.1", port: 9464 }, metrics: () => text, health });
 */
export function serveMetrics(o: MetricsServerOptions): MetricsServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: o.listen.host,
      port: o.listen.port,
      idleTimeout: METRICS_IDLE_TIMEOUT_S,
      maxRequestBodySize: METRICS_MAX_BODY_BYTES,
      fetch: (req) => answer(req, o),
      error: () => text("internal error\n", 500),
    });
  } catch (e) {
    throw Fail.metricsListen(formatEndpoint(o.listen), (e as Error).message, e);
  }
  let open = true;
  return {
    local: { host: o.listen.host, port: server.port ?? o.listen.port },
    close() {
      if (!open) return;
      open = false;
      void server.stop(true);
    },
  };
}
