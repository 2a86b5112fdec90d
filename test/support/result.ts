import type { PunchResult } from "../../src/types.ts";

/**
 * A direct IPv4 result as connect() returns it: a at 0.0.0.0:10000, the partner at 203.0.113.20:40002.
 * Tests of what is made from a result (the line, JSON, hook environment) start from it.
 */
export function sampleResult(o: Partial<PunchResult> = {}): PunchResult {
  return {
    role: "a",
    session: "default",
    laddr: "0.0.0.0:10000",
    lhost: "0.0.0.0",
    lport: 10000,
    raddr: "203.0.113.20:40002",
    rhost: "203.0.113.20",
    rport: 40002,
    via: "direct",
    candidate: "public",
    rttMs: 23,
    publicAddr: "198.51.100.10:40001",
    ...o,
  };
}
