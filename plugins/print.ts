import { definePlugin } from "../src/plugin.ts";
import type { PunchResult } from "../src/types.ts";

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
  });
}

export default definePlugin({
  name: "print",
  description: "print the result to stdout: the original LADDR/LHOST/LPORT/RADDR/RHOST/RPORT line, or JSON",
  args: {
    json: {
      type: "boolean",
      description: "print one JSON object (adds role, session, via, candidate, rttMs)",
    },
  },
  run(result, { args }) {
    process.stdout.write(`${args.json ? jsonLine(result) : seedLine(result)}\n`);
  },
});
