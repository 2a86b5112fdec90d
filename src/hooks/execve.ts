import { Fail } from "../errors.ts";
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
  if (!path) throw Fail.commandNotFound(cmd);
  if (argvCarriesSecret(argv)) throw Fail.secretOnCommandLine(cmd, "run");
  const execve = process.execve;
  if (execve === undefined) throw Fail.noExecve();
  for (const sig of RUNTIME_IGNORED_SIGNALS) process.on(sig, () => {});
  try {
    execve.call(process, path, argv, childEnv(extraEnv));
  } catch (e) {
    throw Fail.execveFailed(path, e);
  }
  throw Fail.execveReturned(path);
}
