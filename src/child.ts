import type { ConsolaInstance } from "consola";

export interface ChildOptions {
  argv: string[];
  env?: Record<string, string>;
  logger: ConsolaInstance;
  /** Each output line of the child goes to stderr with this prefix, so it is clear who said what. */
  prefix: string;
  signal: AbortSignal;
  /** How long the child gets to exit after SIGTERM before SIGKILL. @default 5_000 */
  graceMs?: number;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** True when we stopped it because `signal` aborted. */
  stopped: boolean;
  pid: number;
}

/**
 * Runs a tunnel program as a supervised child: its output goes to stderr line by line with a prefix, and
 * when `signal` aborts it gets SIGTERM, then SIGKILL after the grace period, so it never outlives netpunch
 * (short of netpunch itself being SIGKILLed).
 */
export async function runChild(o: ChildOptions, onStart?: (pid: number) => void): Promise<ChildExit> {
  let proc: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
  try {
    proc = Bun.spawn(o.argv, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...o.env },
    });
  } catch (e) {
    throw new Error(`cannot start ${o.argv[0]}: ${(e as Error).message}`);
  }
  onStart?.(proc.pid);
  o.logger.info(`started ${o.argv[0]} (pid ${proc.pid})`);
  let stopped = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    stopped = true;
    proc.kill("SIGTERM");
    killTimer = setTimeout(() => proc.kill("SIGKILL"), o.graceMs ?? 5_000);
  };
  if (o.signal.aborted) stop();
  else o.signal.addEventListener("abort", stop, { once: true });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        process.stderr.write(`${o.prefix} ${buf.slice(0, nl)}\n`);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    }
    if (buf) process.stderr.write(`${o.prefix} ${buf}\n`);
  };
  await Promise.all([pump(proc.stdout), pump(proc.stderr), proc.exited]);
  clearTimeout(killTimer);
  o.signal.removeEventListener("abort", stop);
  const sig = proc.signalCode;
  return { code: proc.exitCode, signal: sig === null ? null : String(sig), stopped, pid: proc.pid };
}
