// Every process bench/proxy.ts starts, so that all of them are stopped, by PID, however the bench ends:
// SIGTERM first (netpunch then stops its hooks), SIGKILL for any still there after a grace period.
import { readdirSync, readFileSync } from "node:fs";

/** How long a process gets to exit on SIGTERM before SIGKILL. */
const GRACE_MS = 3_000;

export interface Started {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** Everything it wrote so far. */
  out(): { stdout: string; stderr: string };
  /** Resolves with its output once `pattern` appears in it; rejects on exit or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

export class Processes {
  private readonly all: Started[] = [];

  start(argv: string[], env: Record<string, string> = {}): Started {
    const proc = Bun.spawn(argv, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    });
    const text = { stdout: "", stderr: "" };
    const read = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) text[key] += decoder.decode(chunk, { stream: true });
    };
    void read(proc.stdout, "stdout");
    void read(proc.stderr, "stderr");
    const started: Started = {
      proc,
      pid: proc.pid,
      out: () => ({ ...text }),
      waitFor: async (pattern, timeoutMs) => {
        const until = performance.now() + timeoutMs;
        for (;;) {
          const all = text.stdout + text.stderr;
          if (pattern.test(all)) return all;
          if (proc.exitCode !== null || performance.now() > until)
            throw new Error(
              `${argv.slice(0, 4).join(" ")} ...: no ${pattern} (${proc.exitCode !== null ? `exited ${proc.exitCode}` : `${timeoutMs} ms`}):\n${all}`,
            );
          await Bun.sleep(20);
        }
      },
    };
    this.all.push(started);
    return started;
  }

  /** Stops every process started here that still runs, each by its own PID. */
  async stopAll(): Promise<void> {
    const running = this.all.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
    for (const s of running) s.proc.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const s of running) if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
    }, GRACE_MS);
    await Promise.all(running.map((s) => s.proc.exited));
    clearTimeout(timer);
  }
}

/**
 * CPU time of all the process's threads in us: the first field of each /proc/PID/task/TID/schedstat, in ns
 * (bench/relay.ts: the same time as /proc/PID/stat without its 10 ms ticks). A thread that ended between
 * the listing and the read is skipped.
 */
export function cpuUs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // gone
    }
  }
  return ns / 1000;
}
