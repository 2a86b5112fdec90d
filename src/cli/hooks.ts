import { type CommandDef, defineCommand, renderUsage } from "citty";
import type { AnyHook } from "../hooks/hook.ts";
import type { BuiltinHook } from "../hooks/load.ts";
import { checkArgs, stripAnsi } from "./common.ts";
import type { HookSelection } from "./peer.ts";

const hooksArgs = {
  hook: {
    type: "string",
    valueHint: "NAME",
    description: "also describe this hook (a hook file or package); repeatable",
  },
} as const;

/** The listing of every built-in hook, and any given with --hook, with its options. */
async function listHooks(rawArgs: string[], builtins: readonly BuiltinHook[], selected: HookSelection) {
  checkArgs(rawArgs, hooksArgs);
  const loaded = await Promise.all(builtins.map((h) => h.load()));
  const all = new Map<string, AnyHook>(loaded.map((h) => [h.name, h]));
  for (const h of selected.hooks) all.set(h.name, h);
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
}

/** `netpunch hooks`: every built-in hook, and any given with --hook, with its options. */
export const hooksCommand = (
  builtins: readonly BuiltinHook[],
  selected: HookSelection,
): CommandDef<typeof hooksArgs> =>
  defineCommand({
    meta: {
      name: "hooks",
      description: "list the available hooks and their options (add --hook FILE|PACKAGE to include yours)",
    },
    args: hooksArgs,
    run: ({ rawArgs }) => listHooks(rawArgs, builtins, selected),
  });

/** `netpunch plugins`: the command's name from when hooks were called plugins, kept for scripts. */
export const pluginsCommand = (
  builtins: readonly BuiltinHook[],
  selected: HookSelection,
): CommandDef<typeof hooksArgs> => ({
  ...hooksCommand(builtins, selected),
  meta: { name: "plugins", description: "the same as hooks (its former name)" },
});

/** The commands that list hooks, by the name they are called by. */
export const HOOK_LISTING_COMMANDS: ReadonlySet<string> = new Set(["hooks", "plugins"]);
