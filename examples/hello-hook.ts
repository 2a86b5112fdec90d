// A netpunch hook in a single file: `netpunch connect ... --hook ./examples/hello-hook.ts --greeting hi`.
// `netpunch hooks --hook ./examples/hello-hook.ts` shows its options.
//
// Outside this repository, import from the package instead: `import { defineHook } from "netpunch/hooks"`.
import { defineHook } from "../src/hooks/index.ts";

export default defineHook({
  name: "hello",
  description: "print a greeting with the partner's address (an example hook file)",
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
