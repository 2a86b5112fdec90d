// The hooks' lifecycle with fake hooks: setup in order, run in order, cleanup always and in reverse, errors
// collected and reported together, a signal stopping what has not started; options parsed by `check`.
import { describe, expect, test } from "bun:test";
import type { ParsedArgs } from "citty";
import { createConsola } from "consola";
import * as v from "valibot";
import { NetpunchError } from "../../../src/errors.ts";
import { type AnyHook, defineHook, type HookContext } from "../../../src/hooks/hook.ts";
import { runHooks } from "../../../src/hooks/lifecycle.ts";
import { checkHookOptions } from "../../../src/hooks/run.ts";
import { sampleResult } from "../../support/result.ts";

const result = sampleResult({ session: "s", rttMs: 5 });
const logger = createConsola({ level: -999 });
const parsed = (o: Record<string, unknown>) => ({ _: [], ...o }) as unknown as ParsedArgs;

type Phase = "setup" | "run" | "cleanup";
/** A hook that records each phase it enters in `log`, and throws in the phases named in `fails`. */
function recorder(
  log: string[],
  name: string,
  fails: Phase[] = [],
  during?: (phase: Phase) => void,
): AnyHook {
  const phase = (p: Phase) => () => {
    log.push(`${name}.${p}`);
    during?.(p);
    if (fails.includes(p)) throw new Error(`${name} ${p} broke`);
  };
  return { name, description: name, setup: phase("setup"), run: phase("run"), cleanup: phase("cleanup") };
}

async function lifecycle(hooks: AnyHook[], signal = new AbortController().signal) {
  const prepared = checkHookOptions(hooks, parsed({}), []);
  try {
    await runHooks(prepared, result, { logger, signal });
    return undefined;
  } catch (e) {
    return e as NetpunchError;
  }
}

describe("runHooks: setup -> run -> cleanup", () => {
  test("every setup in order, every run in order, every cleanup in reverse", async () => {
    const log: string[] = [];
    expect(await lifecycle([recorder(log, "a"), recorder(log, "b"), recorder(log, "c")])).toBeUndefined();
    expect(log).toEqual([
      "a.setup",
      "b.setup",
      "c.setup",
      "a.run",
      "b.run",
      "c.run",
      "c.cleanup",
      "b.cleanup",
      "a.cleanup",
    ]);
  });

  test("a hook without setup or cleanup takes part in run only", async () => {
    const log: string[] = [];
    const plain: AnyHook = { name: "plain", description: "p", run: () => void log.push("plain.run") };
    await lifecycle([recorder(log, "a"), plain]);
    expect(log).toEqual(["a.setup", "a.run", "plain.run", "a.cleanup"]);
  });

  test("a failing run skips the runs after it; every hook that was set up is cleaned up", async () => {
    const log: string[] = [];
    const e = await lifecycle([recorder(log, "a", ["run"]), recorder(log, "b")]);
    expect(log).toEqual(["a.setup", "b.setup", "a.run", "b.cleanup", "a.cleanup"]);
    expect(e?.code).toBe("E_HOOK");
    expect(e?.message).toBe('hook "a" failed: a run broke');
  });

  test("a failing setup skips every run; its own cleanup runs (it may be half done), later hooks are not set up", async () => {
    const log: string[] = [];
    const e = await lifecycle([recorder(log, "a"), recorder(log, "b", ["setup"]), recorder(log, "c")]);
    expect(log).toEqual(["a.setup", "b.setup", "b.cleanup", "a.cleanup"]);
    expect(e?.message).toBe('hook "b" failed: b setup broke');
  });

  test("errors are collected: a failing cleanup does not skip the others, and all are reported together", async () => {
    const log: string[] = [];
    const e = await lifecycle([recorder(log, "a", ["cleanup"]), recorder(log, "b", ["run", "cleanup"])]);
    expect(log).toEqual(["a.setup", "b.setup", "a.run", "b.run", "b.cleanup", "a.cleanup"]);
    expect(e).toBeInstanceOf(NetpunchError);
    expect(e?.code).toBe("E_HOOK");
    expect(e?.message).toBe(
      'hook "b" failed: b run broke; hook "b" cleanup failed: b cleanup broke; hook "a" cleanup failed: a cleanup broke',
    );
    expect((e?.cause as AggregateError | undefined)?.errors).toHaveLength(3);
    expect(e?.exitCode).toBe(1);
  });

  test("a lone NetpunchError is reported as it is; with others, its code is kept in the message", async () => {
    const usage: AnyHook = {
      name: "u",
      description: "u",
      run() {
        throw new NetpunchError("E_USAGE", "bad option", "fix it");
      },
    };
    const alone = await lifecycle([usage]);
    expect(alone?.code).toBe("E_USAGE");
    expect(alone?.message).toBe("bad option");
    const log: string[] = [];
    const both = await lifecycle([recorder(log, "a", ["cleanup"]), usage]);
    expect(both?.message).toBe('[E_USAGE] bad option; hook "a" cleanup failed: a cleanup broke');
  });

  test("a signal during a run: the hooks not yet run are skipped, cleanup still runs, and it is no error", async () => {
    const log: string[] = [];
    const stop = new AbortController();
    const e = await lifecycle(
      [recorder(log, "a", [], (p) => p === "run" && stop.abort()), recorder(log, "b")],
      stop.signal,
    );
    expect(e).toBeUndefined();
    expect(log).toEqual(["a.setup", "b.setup", "a.run", "b.cleanup", "a.cleanup"]);
  });

  test("a signal during setup: no later setup, no run; what was set up is cleaned up", async () => {
    const log: string[] = [];
    const stop = new AbortController();
    await lifecycle(
      [recorder(log, "a", [], (p) => p === "setup" && stop.abort()), recorder(log, "b")],
      stop.signal,
    );
    expect(log).toEqual(["a.setup", "a.cleanup"]);
  });

  test("an aborted signal before the hooks start: nothing runs", async () => {
    const log: string[] = [];
    await lifecycle([recorder(log, "a")], AbortSignal.abort());
    expect(log).toEqual([]);
  });
});

describe("what the phases get", () => {
  const seen: { phase: string; ctx: HookContext }[] = [];
  const typed = defineHook({
    name: "typed",
    description: "t",
    args: { count: { type: "string", default: "3" }, label: { type: "string", default: "x" } },
    check: v.object({ count: v.pipe(v.string(), v.transform(Number), v.integer()) }),
    setup(_r, ctx) {
      ctx.state.mark = "from setup";
      seen.push({ phase: "setup", ctx: ctx as unknown as HookContext });
    },
    run(_r, ctx) {
      // The type says so too: count is a number after check's transform, label as citty parsed it.
      const n: number = ctx.options.count;
      const label: string = ctx.options.label;
      seen.push({ phase: `run ${n} ${label}`, ctx: ctx as unknown as HookContext });
    },
    cleanup(_r, ctx) {
      seen.push({ phase: "cleanup", ctx: ctx as unknown as HookContext });
    },
  });

  test("run gets check's output as options, the raw parse as args, and one state from setup to cleanup", async () => {
    seen.length = 0;
    const prepared = checkHookOptions([typed as AnyHook], parsed({ count: "7", label: "y" }), []);
    await runHooks(prepared, result, { logger, signal: new AbortController().signal });
    expect(seen.map((s) => s.phase)).toEqual(["setup", "run 7 y", "cleanup"]);
    const [setup, run, cleanup] = seen.map((s) => s.ctx);
    expect(run?.options).toMatchObject({ count: 7, label: "y" });
    expect(run?.args).toMatchObject({ count: "7", label: "y" });
    expect(run?.state).toBe(setup?.state as Record<string, unknown>);
    expect(cleanup?.state).toEqual({ mark: "from setup" });
    expect(run?.env.NETPUNCH_RPORT).toBe("40002");
  });

  test("each punch (--loop round) starts with a fresh state", async () => {
    seen.length = 0;
    const prepared = checkHookOptions([typed as AnyHook], parsed({ count: "1", label: "z" }), []);
    for (let round = 0; round < 2; round++)
      await runHooks(prepared, result, { logger, signal: new AbortController().signal });
    const states = seen.filter((s) => s.phase === "setup").map((s) => s.ctx.state);
    expect(states).toHaveLength(2);
    expect(states[0]).not.toBe(states[1] as Record<string, unknown>);
  });
});
