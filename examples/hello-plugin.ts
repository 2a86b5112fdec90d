// A netpunch hook in a single file: `netpunch connect ... --hook ./examples/hello-plugin.ts --greeting hi`.
// `netpunch plugins --hook ./examples/hello-plugin.ts` shows its options.
//
// Outside this repository, import from the package instead: `import { defineHook } from "netpunch"`.
import { defineHook } from "../src/hooks/hook.ts";

export default defineHook({
  name: "hello",
  description: "print a greeting with the partner's address (an example plugin file)",
  args: {
    greeting: {
      type: "string",
      valueHint: "WORD",
      default: "hello",
      description: "what to say to the partner",
    },
  },
  run(result, { args }) {
    console.log(`${args.greeting} ${result.raddr}`);
  },
});
