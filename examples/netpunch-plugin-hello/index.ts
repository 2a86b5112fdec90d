// A third-party netpunch hook as a package. Install it where you run netpunch (e.g. `bun add
// netpunch-plugin-hello`, or a local path) and select it by its short name:
//   netpunch connect ... --hook hello --greeting hi
// netpunch resolves `--hook hello` to the package netpunch-plugin-hello from the current directory.
//
// A hook is a plain object, so the package needs nothing from netpunch at run time. With netpunch installed
// as a dev dependency you can have it fully typed instead of the small types below:
//   import type { NetpunchHook } from "netpunch/hooks";  // erased when run
//   const hello: NetpunchHook<typeof args> = { ... };
// (The package keeps the netpunch-plugin- prefix: that is the name netpunch looks packages up by.)

const args = {
  greeting: {
    type: "string",
    valueHint: "WORD",
    default: "hello",
    description: "what to say to the partner",
  },
} as const;

export default {
  name: "hello",
  description: "print a greeting with the partner's address (an example plugin package)",
  args,
  run(result: { raddr: string }, { args }: { args: { greeting: string } }): void {
    console.log(`${args.greeting} ${result.raddr}`);
  },
};
