import { defineCommand, renderUsage } from "citty";
import { builtinPlugins } from "../../plugins/index.ts";
import type { AnyPlugin } from "../hooks/load.ts";
import { checkArgs, stripAnsi } from "./common.ts";
import { selectedHooks } from "./peer.ts";

const pluginsArgs = {
  hook: {
    type: "string",
    valueHint: "NAME",
    description: "also describe this hook (a plugin file or package); repeatable",
  },
} as const;

/** `netpunch plugins`: every built-in hook, and any given with --hook, with its options. */
export const pluginsCommand = defineCommand({
  meta: {
    name: "plugins",
    description: "list the available hooks and their options (add --hook FILE|PACKAGE to include yours)",
  },
  args: pluginsArgs,
  async run({ rawArgs }) {
    checkArgs(rawArgs, pluginsArgs);
    const all = new Map<string, AnyPlugin>(Object.entries(builtinPlugins));
    for (const h of selectedHooks()) all.set(h.name, h);
    const out: string[] = [];
    for (const h of all.values()) {
      const usage = stripAnsi(await renderUsage({ meta: { name: `--hook ${h.name}` }, args: h.args ?? {} }));
      const options = usage.includes("\nOPTIONS")
        ? usage.slice(usage.indexOf("\nOPTIONS") + 1)
        : "(no options)\n";
      out.push(`${h.name}: ${h.description}\n\n${options.trimEnd()}\n`);
      if (h.passthrough) out.push(`  after --: ${h.passthrough}\n`);
    }
    process.stdout.write(`${out.join("\n")}\n`);
  },
});
