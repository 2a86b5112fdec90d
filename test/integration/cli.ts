// Runs the real CLI as child processes on loopback, tracked by PID and always stopped.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const CLI = join(import.meta.dir, "../../src/cli/main.ts");
const started = new Set<Subprocess>();

export interface Proc {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout: Promise<string>;
  stderr: Promise<string>;
  /** Resolves with the exit code; kills the process if it runs past `timeoutMs`. */
  done(timeoutMs?: number): Promise<number>;
  /** stderr so far. */
  errSoFar(): string;
}

/** The CLI as a child process; `cwd` matters for hook files and packages, which resolve from there. */
export function run(args: string[], env: Record<string, string> = {}, cwd?: string): Proc {
  const proc = Bun.spawn([process.execPath, CLI, ...args], {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  let err = "";
  const stderr = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) err += dec.decode(chunk, { stream: true });
    return err;
  })();
  return {
    proc,
    stdout: new Response(proc.stdout).text(),
    stderr,
    errSoFar: () => err,
    async done(timeoutMs = 20_000) {
      const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** `netpunch connect --role ROLE --server SERVER ...more` as a child process. */
export function connect(role: string, server: string, ...more: string[]): Proc {
  return run(["connect", "--role", role, "--server", server, ...more]);
}

export async function waitFor(p: Proc, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.errSoFar())) {
    if (Date.now() > deadline || p.proc.exitCode !== null)
      throw new Error(`waiting for ${pattern}:\n${p.errSoFar()}`);
    await Bun.sleep(20);
  }
}

export function stopAll(): void {
  for (const p of started) p.kill("SIGKILL");
}

export function secretFile(secret: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "netpunch-it-")), "secret.txt");
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

/** A UDP port that was free a moment ago (bind :0 and release). */
export async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = s.port;
  s.close();
  return port;
}

export async function startServer(secretPath: string): Promise<{ p: Proc; port: number }> {
  const port = await freePort();
  const p = run(["serve", "--listen", `127.0.0.1:${port}`, "--secret-file", secretPath]);
  await waitFor(p, /listening on UDP/);
  return { p, port };
}
