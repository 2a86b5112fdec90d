import { VERSION } from "../version.ts";
import type { MetricFamily } from "./exposition.ts";
import type { LagMeter } from "./lag.ts";

/** What process.memoryUsage() says, the part the metrics show. */
export type Memory = Pick<NodeJS.MemoryUsage, "rss" | "heapTotal" | "heapUsed" | "external">;

/** The process's own families: memory, event-loop lag, start time, version. Pure given its inputs. */
export function processFamilies(o: { memory: Memory; lag: LagMeter; startedAt: number }): MetricFamily[] {
  const lag = o.lag.read();
  const gauge = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: "gauge",
    samples: [{ value }],
  });
  return [
    {
      name: "netpunch_build_info",
      help: "Always 1; the version label is netpunch's version.",
      type: "gauge",
      samples: [{ labels: { version: VERSION }, value: 1 }],
    },
    gauge("netpunch_process_start_time_seconds", "When the process started (unix time).", o.startedAt / 1000),
    gauge("netpunch_process_resident_memory_bytes", "Resident set size of the process.", o.memory.rss),
    gauge("netpunch_process_heap_total_bytes", "JavaScript heap reserved.", o.memory.heapTotal),
    gauge("netpunch_process_heap_used_bytes", "JavaScript heap in use.", o.memory.heapUsed),
    gauge(
      "netpunch_process_external_memory_bytes",
      "Memory outside the JavaScript heap held by JavaScript objects (buffers).",
      o.memory.external,
    ),
    gauge(
      "netpunch_event_loop_lag_seconds",
      "How late the latest event-loop timer fired (sampled every 0.5 s).",
      lag.lastSeconds,
    ),
    gauge(
      "netpunch_event_loop_lag_max_seconds",
      "The largest event-loop lag of the last 10 s of samples.",
      lag.maxSeconds,
    ),
  ];
}
