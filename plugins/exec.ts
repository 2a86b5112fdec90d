import {
  defineHook,
  execReplace,
  fillTemplate,
  missingProgram,
  type PunchResult,
  resultEnv,
  runChild,
  templateProblem,
} from "../src/hooks/index.ts";

/** The command with {lport} {rhost} ... filled in, one template per argument (no shell involved). Pure. */
export function execArgv(r: PunchResult, command: string[]): string[] {
  return command.map((arg) => fillTemplate(arg, r));
}

export default defineHook({
  name: "exec",
  description:
    "run any command with the result in its arguments ({lport} {rhost} {rport} ...) and environment (NETPUNCH_*)",
  passthrough: "the command and its arguments, e.g. -- my-tunnel --to {rhost}:{rport} --from {lport}",
  args: {
    "exec-replace": {
      type: "boolean",
      description:
        "replace the netpunch process with the command (execve, like the original's -command) instead of supervising it",
    },
  },
  preflight({ args, extraArgs }) {
    if (extraArgs.length === 0) return "give the command after --, e.g. --hook exec -- echo {rhost} {rport}";
    if (args["exec-replace"] && process.platform === "win32")
      return "--exec-replace is not available on Windows";
    for (const a of extraArgs) {
      const p = templateProblem(a);
      if (p) return `in "${a}": ${p}`;
    }
    // The program must exist before the partner is spent on a punch. A name built from the result
    // ({rhost}...) is only known then.
    const program = extraArgs[0] ?? "";
    return program.includes("{") ? undefined : missingProgram(program);
  },
  async run(result, { options, logger, signal, extraArgs }) {
    const argv = execArgv(result, extraArgs);
    const env = resultEnv(result);
    if (options["exec-replace"]) {
      logger.info(`replacing netpunch with ${argv[0]}`);
      execReplace(argv, env); // returns only on failure (it throws)
    }
    const exit = await runChild({ argv, env, logger, prefix: `[${argv[0]}]`, signal });
    if (!exit.stopped && exit.code !== 0)
      throw new Error(`${argv[0]} exited with code ${exit.code ?? exit.signal}`);
  },
});
