import { NetpunchError } from "../errors.ts";
import { argvCarriesSecret, childEnv } from "./env.ts";

/**
 * Signals Bun's runtime sets to SIG_IGN. An ignored signal stays ignored across execve(2), so without a reset
 * the new program would not die of SIGPIPE (`yes | head -1` would print "Broken pipe" and go on writing) and
 * would get EFBIG instead of SIGXFSZ.
 */
export const RUNTIME_IGNORED_SIGNALS = ["SIGPIPE", "SIGXFSZ"] as const;

/**
 * Replaces this process with `argv` (execve(2)), keeping the PID, like the original netpunch's -command.
 * Bun's process.execve does the exec; before it, a handler is installed for each signal the runtime ignores:
 * execve resets caught signals to their default action (POSIX), so the new program starts with SIGPIPE and
 * SIGXFSZ at SIG_DFL. That holds on glibc, musl and macOS alike, with no FFI. Returns only by throwing.
 */
export function execReplace(argv: string[], extraEnv: Record<string, string>): never {
  const [cmd] = argv;
  const path = cmd === undefined ? null : cmd.includes("/") ? cmd : Bun.which(cmd);
  if (!path)
    throw new NetpunchError(
      "E_HOOK",
      `${cmd ?? "(no command)"} not found in PATH`,
      "check the command after --",
    );
  if (argvCarriesSecret(argv))
    throw new NetpunchError(
      "E_HOOK",
      `refusing to run ${cmd}: its command line contains the secret`,
      "command lines are visible to every local user (ps); pass secrets in a file",
    );
  const execve = process.execve;
  if (execve === undefined)
    throw new NetpunchError(
      "E_HOOK",
      "this runtime has no process.execve",
      "run netpunch on Bun 1.4 or a release binary, or drop --exec-replace",
    );
  for (const sig of RUNTIME_IGNORED_SIGNALS) process.on(sig, () => {});
  try {
    execve.call(process, path, argv, childEnv(extraEnv));
  } catch (e) {
    throw new NetpunchError("E_HOOK", `execve ${path} failed: ${(e as Error).message}`, "check the program", {
      cause: e,
    });
  }
  throw new NetpunchError("E_HOOK", `execve ${path} returned`, "this is a bug");
}
