import * as v from "valibot";
import {
  defineHook,
  fillTemplate,
  type PunchResult,
  TEMPLATE_FIELDS,
  templateProblem,
} from "../src/hooks/index.ts";

/** The original tool's result line; users' bash scripts split it on spaces, so its shape never changes. */
export function seedLine(r: PunchResult): string {
  return `LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: ${r.laddr} ${r.lhost} ${r.lport} ${r.raddr} ${r.rhost} ${r.rport}`;
}

export function jsonLine(r: PunchResult): string {
  return JSON.stringify({
    laddr: r.laddr,
    lhost: r.lhost,
    lport: r.lport,
    raddr: r.raddr,
    rhost: r.rhost,
    rport: r.rport,
    role: r.role,
    session: r.session,
    via: r.via,
    candidate: r.candidate,
    rttMs: r.rttMs,
    publicAddr: r.publicAddr,
    ...(r.proxy ? { proxy: true } : {}),
    ...(r.partnerOffer ? { partnerOffer: Buffer.from(r.partnerOffer).toString("base64") } : {}),
  });
}

/**
 * The --format line: `{{` and `}}` are literal braces (so `{{rhost}}` prints `{rhost}`, as in most template
 * languages), `{name}` is a field. Tokens are taken left to right, so `{{{rhost}}}` is `{203.0.113.20}`;
 * a lone `{` or `}` stays as it is. Field names and their errors are fillTemplate's, shared with exec.
 */
export function formatLine(template: string, r: PunchResult): string {
  return template.replace(/\{\{|\}\}|\{[a-z]+\}/g, (token) =>
    token === "{{" ? "{" : token === "}}" ? "}" : fillTemplate(token, r),
  );
}

export default defineHook({
  name: "print",
  description:
    "print the result to stdout: the original LADDR/LHOST/LPORT/RADDR/RHOST/RPORT line, JSON, or your own format",
  args: {
    json: {
      type: "boolean",
      description: "print one JSON object (adds role, session, via, candidate, rttMs)",
    },
    format: {
      type: "string",
      valueHint: "TEMPLATE",
      description: `print this line instead, with ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(" ")}; {{ and }} are literal braces`,
    },
  },
  check: v.object({
    format: v.optional(
      v.pipe(
        v.string(),
        v.check(
          (t) => templateProblem(t) === undefined,
          (i) => templateProblem(String(i.input)) ?? "",
        ),
      ),
    ),
  }),
  preflight: ({ args }) =>
    args.json && args.format !== undefined ? "--json and --format exclude each other" : undefined,
  run(result, { options }) {
    const line =
      options.format !== undefined
        ? formatLine(options.format, result)
        : options.json
          ? jsonLine(result)
          : seedLine(result);
    process.stdout.write(`${line}\n`);
  },
});
