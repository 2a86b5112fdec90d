import type { NetpunchPlugin } from "../src/plugin.ts";
import print from "./print.ts";

/** Built-in hooks by name. A new hook is a file in this folder plus one line here. */
// biome-ignore lint/suspicious/noExplicitAny: each plugin has its own argument types
export const builtinPlugins: Record<string, NetpunchPlugin<any>> = {
  [print.name]: print,
};
