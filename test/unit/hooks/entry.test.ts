// The public hooks entry (src/hooks/index.ts, the package's "netpunch/hooks"): what it exports, that the
// built-in hooks need nothing else from the core, and that the loader finds built-ins in the list it is given.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { builtinHooks } from "../../../plugins/index.ts";
import * as hooksEntry from "../../../src/hooks/index.ts";
import { loadHook } from "../../../src/hooks/load.ts";

const PLUGINS = join(import.meta.dir, "../../../plugins");

describe("the netpunch/hooks entry", () => {
  test("exports defineHook and the toolkit the built-in hooks use", () => {
    expect(Object.keys(hooksEntry).sort()).toEqual(
      [
        "CHILD_TIMINGS",
        "DRAIN_TIMINGS",
        "MAX_SECONDS",
        "NetpunchError",
        "TEMPLATE_FIELDS",
        "childEnv",
        "defineHook",
        "definePlugin",
        "drainPunchedPort",
        "execReplace",
        "fillTemplate",
        "isNetpunchError",
        "missingProgram",
        "OFFER_MAX_BYTES",
        "OFFER_VERSION",
        "PRIVATE_FILE_MODE",
        "connectTunnelId",
        "decodeOffer",
        "defaultStateDir",
        "encodeOffer",
        "keyDir",
        "pinnedFingerprint",
        "readIfThere",
        "readKeyFile",
        "tunnelId",
        "writePrivateFile",
        "zeroConfigPlace",
        "parseAddress",
        "resultEnv",
        "runChild",
        "sleep",
        "templateProblem",
      ].sort(),
    );
  });

  test.each(readdirSync(PLUGINS).filter((f) => f.endsWith(".ts")))(
    "plugins/%s imports from the core only through the public entry",
    (file) => {
      const source = readFileSync(join(PLUGINS, file), "utf8");
      const fromCore = [...source.matchAll(/from "(\.\.\/[^"]+)"/g)].map((m) => m[1]);
      expect(fromCore.filter((s) => s !== "../src/hooks/index.ts")).toEqual([]);
    },
  );

  test("the loader does not import the built-ins: the CLI passes them in", () => {
    const source = readFileSync(join(import.meta.dir, "../../../src/hooks/load.ts"), "utf8");
    expect(source).not.toMatch(/from "[^"]*plugins\//);
  });

  test("a built-in is found by name in the list given to the loader", async () => {
    const fake = hooksEntry.defineHook({ name: "print", description: "not the real one", run() {} });
    const fakes = [{ name: "print", load: async () => fake }];
    expect(await loadHook("print", { builtins: fakes })).toBe(fake);
    const print = await builtinHooks.find((h) => h.name === "print")?.load();
    expect(await loadHook("print", { builtins: builtinHooks })).toBe(print as hooksEntry.AnyHook);
    await expect(loadHook("openvpn", { builtins: fakes })).rejects.toThrow('unknown hook "openvpn"');
  });

  test.each(builtinHooks.map((h) => [h.name, h] as const))(
    "the built-in listed as %s loads the hook of that name",
    async (name, h) => {
      expect((await h.load()).name).toBe(name);
    },
  );
});
