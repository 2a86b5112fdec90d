import type { PunchResult } from "../types.ts";

/** The result as environment variables for child processes: NETPUNCH_LPORT, NETPUNCH_RHOST, ... */
export function resultEnv(r: PunchResult): Record<string, string> {
  return {
    NETPUNCH_LADDR: r.laddr,
    NETPUNCH_LHOST: r.lhost,
    NETPUNCH_LPORT: String(r.lport),
    NETPUNCH_RADDR: r.raddr,
    NETPUNCH_RHOST: r.rhost,
    NETPUNCH_RPORT: String(r.rport),
    NETPUNCH_ROLE: r.role,
    NETPUNCH_SESSION: r.session,
    NETPUNCH_VIA: r.via,
    NETPUNCH_CANDIDATE: r.candidate,
    NETPUNCH_RTT_MS: String(r.rttMs),
    NETPUNCH_PUBLIC_ADDR: r.publicAddr,
  };
}

const FIELDS: Record<string, (r: PunchResult) => string> = {
  laddr: (r) => r.laddr,
  lhost: (r) => r.lhost,
  lport: (r) => String(r.lport),
  raddr: (r) => r.raddr,
  rhost: (r) => r.rhost,
  rport: (r) => String(r.rport),
  role: (r) => r.role,
  session: (r) => r.session,
  via: (r) => r.via,
  candidate: (r) => r.candidate,
  rtt: (r) => String(r.rttMs),
  public: (r) => r.publicAddr,
};

export const TEMPLATE_FIELDS = Object.keys(FIELDS);

/**
 * Replaces {lport}, {rhost}, ... with the result's values; `{{` is a literal brace. An unknown field is an
 * error rather than silently left in, since it is almost always a typo.
 */
export function fillTemplate(template: string, r: PunchResult): string {
  return template.replace(/\{\{|\{([a-z]+)\}/g, (whole, name: string | undefined) => {
    if (whole === "{{") return "{";
    const f = name !== undefined ? FIELDS[name] : undefined;
    if (!f)
      throw new TypeError(
        `unknown field {${name}} (known: ${TEMPLATE_FIELDS.map((k) => `{${k}}`).join(" ")})`,
      );
    return f(r);
  });
}

/** Checks a template without a result, so a typo is a usage error before any packet is sent. */
export function templateProblem(template: string): string | undefined {
  for (const m of template.matchAll(/\{\{|\{([a-z]+)\}/g)) {
    if (m[0] !== "{{" && !FIELDS[m[1] ?? ""])
      return `unknown field ${m[0]} (known: ${TEMPLATE_FIELDS.map((k) => `{${k}}`).join(" ")})`;
  }
  return undefined;
}
