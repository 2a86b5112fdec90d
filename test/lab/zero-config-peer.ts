// One side of a zero-config tunnel without a rendezvous, for test/lab/zero-config.test.ts: the hook's offer
// goes to a file, the partner's offer is read from the partner's file (where a punch would have carried it),
// then the same lifecycle as a punch: checkPartnerOffer (pins), setup, run, cleanup. Run in a lab namespace:
//   bun zero-config-peer.ts '{"role":"a",...}' -- --hook-option value ...
// Exits 0 after a signal, 3 with "[CODE] message" on stderr for a NetpunchError, 1 for anything else.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "citty";
import { createConsola } from "consola";
import { builtinHooks } from "../../plugins/index.ts";
import { NetpunchError } from "../../src/errors.ts";
import { checkPartnerOffer, makeOffer, runHooks } from "../../src/hooks/lifecycle.ts";
import { checkHookOptions } from "../../src/hooks/run.ts";
import type { PunchResult } from "../../src/types.ts";

interface Plan {
  hook: string;
  role: "a" | "b";
  stateDir: string;
  tunnel: string;
  /** Where this side's offer is written, and where the partner's is read from. */
  offerOut: string;
  offerIn: string;
  lport: number;
  rhost: string;
  rport: number;
}

/** How long to wait for the partner's offer file: the partner starts within a second or two. */
const PARTNER_WAIT = { tries: 200, everyMs: 50 } as const;

async function main(): Promise<number> {
  const [planJson, dashes, ...hookArgv] = process.argv.slice(2);
  if (planJson === undefined || dashes !== "--") throw new Error("usage: zero-config-peer.ts PLAN -- ARGS");
  const plan = JSON.parse(planJson) as Plan;
  const entry = builtinHooks.find((h) => h.name === plan.hook);
  if (!entry) throw new Error(`no built-in hook ${plan.hook}`);
  const hook = await entry.load();
  const logger = createConsola({ level: 4, stdout: process.stderr, stderr: process.stderr });
  const stop = new AbortController();
  process.on("SIGINT", () => stop.abort());
  process.on("SIGTERM", () => stop.abort());
  const prepared = checkHookOptions([hook], parseArgs(hookArgv, hook.args ?? {}), []);
  const place = { logger, signal: stop.signal, stateDir: plan.stateDir, tunnel: plan.tunnel };

  const offering = await makeOffer(prepared, place);
  if (!offering) throw new Error("the hook made no offer: not its zero-config mode");
  writeFileSync(`${plan.offerOut}.tmp`, offering.bytes);
  renameSync(`${plan.offerOut}.tmp`, plan.offerOut);
  logger.info("offer written");
  for (let i = 0; i < PARTNER_WAIT.tries && !existsSync(plan.offerIn); i++)
    await Bun.sleep(PARTNER_WAIT.everyMs);
  const partnerOffer = new Uint8Array(readFileSync(plan.offerIn));

  const result: PunchResult = {
    role: plan.role,
    session: plan.tunnel,
    laddr: `0.0.0.0:${plan.lport}`,
    lhost: "0.0.0.0",
    lport: plan.lport,
    raddr: `${plan.rhost}:${plan.rport}`,
    rhost: plan.rhost,
    rport: plan.rport,
    via: "direct",
    candidate: "public",
    rttMs: 1,
    publicAddr: `0.0.0.0:${plan.lport}`,
    partnerOffer,
  };
  const pin = checkPartnerOffer(offering, result, place);
  logger.info(`pin: ${pin}`);
  await runHooks(prepared, result, place);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof NetpunchError) {
      process.stderr.write(`[${e.code}] ${e.message}\nhint: ${e.hint}\n`);
      process.exit(3);
    }
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
