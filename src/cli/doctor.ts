import { defineCommand } from "citty";
import { formatEndpoint, parseAddress } from "../addr.ts";
import { classifyMapping, verdict } from "../nat/classify.ts";
import { resolveServer } from "../sys/dns.ts";
import { freeUdpPort } from "../transport/udp.ts";
import { checkArgs, logArgs, secretArgs } from "./common.ts";
import { CliFail, cliExplanation } from "./hints.ts";
import { makeLogger } from "./logger.ts";
import { resolveSecret } from "./secret.ts";

const doctorArgs = {
  server: {
    type: "string",
    valueHint: "HOST:PORT",
    description: "a netpunch server started with --alt-port",
  },
  stun: {
    type: "string",
    valueHint: "HOST:PORT",
    description: "an ordinary STUN server instead (give two, e.g. two ports, to tell the mapping behaviour)",
  },
  json: { type: "boolean", description: "print the report as one JSON object" },
  ...secretArgs,
  ...logArgs,
} as const;

const stunSpecs = (rawArgs: string[]) =>
  rawArgs.flatMap((a, i) =>
    a === "--stun" ? [rawArgs[i + 1] ?? ""] : a.startsWith("--stun=") ? [a.slice(7)] : [],
  );

async function stunReport(specs: string[], signal: AbortSignal) {
  const { stunBinding } = await import("../stun/client.ts");
  const servers = await Promise.all(specs.map((s) => resolveServer(parseAddress(s, "STUN server address"))));
  const port = await freeUdpPort(); // both queries use this one port, so their mappings compare
  const results = [];
  for (const server of servers) {
    const r = await stunBinding({
      server,
      local: { host: "0.0.0.0", port },
      signal,
      timeoutMs: 5_000,
    });
    results.push({
      server: formatEndpoint(server),
      mapped: formatEndpoint(r.mapped),
      mappedEp: r.mapped,
      rttMs: r.rttMs,
    });
  }
  const [first, second] = results;
  const nat =
    first && second ? classifyMapping(first.mappedEp, second.mappedEp, { port, hosts: [] }) : undefined;
  return {
    local: `0.0.0.0:${port}`,
    stun: results.map(({ mappedEp: _, ...r }) => r),
    portPreserved: first?.mappedEp.port === port,
    nat,
    ...(nat ? verdictFields(nat) : {}),
  };
}

const verdictFields = (nat: Parameters<typeof verdict>[0]) => {
  const v = verdict(nat);
  return { verdict: v.verdict, explanation: cliExplanation(v.verdict, v.text) };
};

/** `netpunch doctor`; its drivers (the doctor, STUN) are imported when it runs, not at every start-up. */
export const doctorCommand = (signal: AbortSignal) =>
  defineCommand({
    meta: {
      name: "doctor",
      description: "tell what this host's NAT does and whether direct punching can work",
    },
    args: doctorArgs,
    async run({ args, rawArgs }) {
      checkArgs(rawArgs, doctorArgs, { repeatable: ["stun"] }); // two STUN servers compare mappings
      const logger = makeLogger({ quiet: args.quiet, verbose: args.verbose });
      const stun = stunSpecs(rawArgs);
      if (!args.server && stun.length === 0) {
        throw CliFail.doctorNeedsServer();
      }
      if (stun.length > 2) throw CliFail.tooManyStun();
      let report: Record<string, unknown>;
      if (args.server) {
        const secret = resolveSecret({ secret: args.secret, secretFile: args["secret-file"], logger });
        const { doctor } = await import("../nat/doctor.ts");
        const r = await doctor({ server: args.server, secret, signal });
        report = { ...r, explanation: cliExplanation(r.verdict, r.explanation) };
      } else report = await stunReport(stun, signal);
      if (args.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return;
      }
      process.stdout.write(`${renderReport(report)}\n`);
    },
  });

/** The report as a few lines of text: the verdict first, then the evidence. Pure. */
export function renderReport(r: Record<string, unknown>): string {
  const lines: string[] = [];
  const nat = r.nat as { mapping: string; step: number } | undefined;
  if (r.explanation) lines.push(`verdict: ${r.verdict} - ${r.explanation}`);
  if (nat) lines.push(`mapping: ${nat.mapping}${nat.step ? ` (step ${nat.step})` : ""}`);
  if (r.observed) {
    const o = r.observed as Record<string, string>;
    lines.push(
      `seen by the server: ${o.first} (main port), ${o.firstViaAlt} (alt port ${r.altPort}), ${o.second} (second socket)`,
    );
  }
  if (Array.isArray(r.stun))
    for (const s of r.stun as { server: string; mapped: string }[])
      lines.push(`STUN ${s.server} sees ${s.mapped}`);
  lines.push(`local: ${r.local}, port preserved: ${r.portPreserved ? "yes" : "no"}`);
  if (r.filtering) lines.push(`filtering: ${r.filtering}`);
  if (r.hairpin !== undefined) lines.push(`hairpin: ${r.hairpin ? "yes" : "no"}`);
  if (!nat) lines.push("mapping: unknown (give a second --stun address to compare)");
  return lines.join("\n");
}
