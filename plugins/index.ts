import type { AnyHook } from "../src/hooks/index.ts";
import exec from "./exec.ts";
import openvpn from "./openvpn.ts";
import print from "./print.ts";
import socatForward from "./socat-forward.ts";
import wireguard from "./wireguard.ts";

/**
 * The built-in hooks, in the order `netpunch hooks` lists them. The CLI hands this list to the loader, so
 * the hooks depend on the public hooks entry only, never on the core that runs them. A new hook is a file
 * in this folder plus one entry here.
 */
export const builtinHooks: readonly AnyHook[] = [print, openvpn, wireguard, socatForward, exec];
