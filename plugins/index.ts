import type { AnyHook } from "../src/hooks/index.ts";

/**
 * The built-in hooks, in the order `netpunch hooks` lists them, each by name with its module loaded only
 * when a command line selects it: a peer pays start-up time for the hooks it runs, not for all five. The
 * CLI hands this list to the loader, so the hooks depend on the public hooks entry only, never on the core
 * that runs them. A new hook is a file in this folder plus one entry here.
 */
export const builtinHooks: readonly { name: string; load: () => Promise<AnyHook> }[] = [
  { name: "print", load: async () => (await import("./print.ts")).default },
  { name: "openvpn", load: async () => (await import("./openvpn.ts")).default },
  { name: "wireguard", load: async () => (await import("./wireguard.ts")).default },
  { name: "socat-forward", load: async () => (await import("./socat-forward.ts")).default },
  { name: "exec", load: async () => (await import("./exec.ts")).default },
];
