import type { NetpunchError } from "../errors.ts";

/**
 * The CLI's own hint for a library failure, naming its flags; undefined keeps the library's. The library's
 * hints say what to do in words any caller can act on; here the same advice is given as the options to use.
 */
export function cliHint(e: NetpunchError): string | undefined {
  switch (e.code) {
    case "E_TIMEOUT": {
      const role = String(e.detail.partnerRole ?? "");
      return `start the other peer with --role ${role} and the same --session, server and secret, or raise --timeout`;
    }
    case "E_PUNCH_FAILED":
      return e.hint?.replace("a server with a relay", "a server started with serve --relay");
    case "E_SERVER_FULL":
      return e.hint
        ?.replace("the session limit", "the session limit (serve --max-sessions)")
        .replace("the per-address limit", "the per-address limit (serve --max-per-address)");
    case "E_NO_ALT_PORT":
      return "start it with serve --alt-port PORT, and open that UDP port too";
    case "E_HOOK":
      return HOOK_HINTS[String(e.detail.reason)];
    default:
      return undefined;
  }
}

/** A hook's failure, by its `detail.reason`: the CLI's --verbose shows a hook's debug lines. */
const HOOK_HINTS: Readonly<Record<string, string>> = {
  "hook-failed": "run with --verbose for details",
  "hooks-failed": "each hook's failure is listed; run with --verbose for details",
  "command-not-found": "check the command after --",
  "no-execve": "run netpunch on Bun 1.4 or a release binary, or drop --exec-replace",
};
