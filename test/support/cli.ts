// The CLI run in-process for the unit suites: its exit code and what it wrote, and a suite's temp folder and secret.
import { afterAll, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../../src/cli/main.ts";
import { captureOutput } from "../unit/support.ts";

/** Runs `netpunch ...args` in this process: its exit code, stdout and stderr. */
export async function runCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value, out, err } = await captureOutput(() => cli(args));
  return { code: value, out, err };
}

/**
 * A temp folder for the suite, removed after it; with `secret`, NETPUNCH_SECRET is set to it
 * before each test and put back as it was after the suite.
 */
export function cliSuite(prefix: string, secret?: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const saved = process.env.NETPUNCH_SECRET;
  if (secret !== undefined)
    beforeEach(() => {
      process.env.NETPUNCH_SECRET = secret;
    });
  afterAll(() => {
    if (secret !== undefined) {
      if (saved === undefined) delete process.env.NETPUNCH_SECRET;
      else process.env.NETPUNCH_SECRET = saved;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
