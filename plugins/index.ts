import type { AnyHook } from "../src/hooks/hook.ts";
import exec from "./exec.ts";
import openvpn from "./openvpn.ts";
import print from "./print.ts";
import socatForward from "./socat-forward.ts";
import wireguard from "./wireguard.ts";

/** Built-in hooks by name. A new hook is a file in this folder plus one line here. */
export const builtinPlugins: Record<string, AnyHook> = Object.fromEntries(
  [print, openvpn, wireguard, socatForward, exec].map((p) => [p.name, p]),
);
