// A process started inside a lab namespace at a chosen wall-clock time, with every line it writes stamped
// with when the bench read it, and the time it exited: what a user waiting for it sees.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Host } from "../../lab/lab.ts";
import type { TimedLine, TimedRun } from "./timeline.ts";

const EXEC_AT = join(import.meta.dir, "exec-at.py");
/** Debian's python3 first, as the lab does: a pyenv shim may depend on the caller's cwd and environment. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Wall-clock ms with sub-ms resolution; the same clock exec-at.py reads (CLOCK_REALTIME). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface TimedProcess {
  /** Resolves once the process has exited and both its streams are read to the end. */
  readonly done: Promise<TimedRun>;
  kill(signal?: NodeJS.Signals): void;
}

/** Reads a stream line by line; each line gets the time the chunk that completed it arrived. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  name: TimedLine["stream"],
  into: TimedLine[],
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  try {
    for await (const chunk of stream) {
      const at = nowMs();
      const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = parts.pop() ?? "";
      for (const text of parts) into.push({ at, stream: name, text });
    }
  } catch {
    // a broken pipe only ends the output early
  }
  if (partial !== "") into.push({ at: nowMs(), stream: name, text: partial });
}

/**
 * Starts `argv` in `host`'s namespace at wall-clock `atMs` (exec-at.py waits there, already started, and
 * then execs it). `limitMs` after `atMs` a process still running is killed (SIGKILL): every run is bounded.
 */
export function spawnAt(host: Host, atMs: number, argv: string[], limitMs: number): TimedProcess {
  const atNs = BigInt(Math.round(atMs * 1e6));
  // `ip netns exec` execs its command in place, so the PID is exec-at.py's and then the command's.
  const proc = Bun.spawn(["ip", "netns", "exec", host.ns, PYTHON, EXEC_AT, String(atNs), ...argv], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: TimedLine[] = [];
  let exitAt = Number.NaN;
  // Stamped the moment the exit is seen, not after the streams are drained.
  const exited = proc.exited.then((code) => {
    exitAt = nowMs();
    return code;
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), Math.max(0, atMs - nowMs()) + limitMs);
  const done = (async () => {
    const [code] = await Promise.all([
      exited,
      readLines(proc.stdout, "stdout", lines),
      readLines(proc.stderr, "stderr", lines),
    ]);
    clearTimeout(timer);
    lines.sort((x, y) => x.at - y.at);
    return { lines, exitAt, code, killed: proc.signalCode !== null };
  })();
  return { done, kill: (signal = "SIGTERM") => proc.kill(signal) };
}
