// Assertions the simulation tests share (not a test file).
import { expect } from "bun:test";
import { formatEndpoint, sameEndpoint } from "../../src/addr.ts";
import type { TraceRecord } from "../../src/transport/memory.ts";
import type { PunchResult } from "../../src/types.ts";
import { type Peer, type Placed, SERVER, type Sim } from "./world.ts";

/** Both peers connected, over `via`, each to the other: and a datagram passes both ways on that path. */
export async function expectPair(
  sim: Sim,
  [pa, pb]: [Peer, Peer],
  [a, b]: [Placed, Placed],
  via: PunchResult["via"],
): Promise<[PunchResult, PunchResult]> {
  expect([pa.error?.message, pb.error?.message]).toEqual([undefined, undefined]);
  const ra = pa.result as PunchResult;
  const rb = pb.result as PunchResult;
  expect([ra.via, rb.via]).toEqual([via, via]);
  if (via === "lan") {
    // Each went to the other's own address and port: no NAT in the way.
    expect(ra.raddr).toBe(`${b.lanIp}:${rb.lport}`);
    expect(rb.raddr).toBe(`${a.lanIp}:${ra.lport}`);
  } else if (via === "relay") {
    expect(ra.raddr).toBe(rb.raddr); // both at the one relay port
  } else {
    // Each at the other's public IP: the port is the server's view unless birthday probing found another.
    expect([ra.rhost, rb.rhost]).toEqual([b.publicIp, a.publicIp]);
    // A "public" candidate is the address the server saw; a "reflexive" one a symmetric NAT's new port.
    if (ra.candidate === "public") expect(ra.raddr).toBe(rb.publicAddr);
    if (rb.candidate === "public") expect(rb.raddr).toBe(ra.publicAddr);
  }
  await expectTunnel(sim, [a, b], [ra, rb]);
  return [ra, rb];
}

/** At 36% loss a path (two lossy links) loses all five 0.6% of the time; the seeds here do not. */
const TUNNEL_COPIES = 5;

/** The hook's tunnel binds each result's lport and sends to its raddr: each side hears the other. */
export async function expectTunnel(sim: Sim, [a, b]: [Placed, Placed], [ra, rb]: [PunchResult, PunchResult]) {
  // Late punching packets (the partner's last CLOSEs) may reach the tunnel too, as in the lab: not counted.
  const heard: Record<"a" | "b", string[]> = { a: [], b: [] };
  const text = (d: Uint8Array) => new TextDecoder().decode(d);
  const ta = await a.host.transport({ host: "0.0.0.0", port: ra.lport }, (d) => {
    if (text(d).startsWith("from ") && !heard.a.includes(text(d))) heard.a.push(text(d));
  });
  const tb = await b.host.transport({ host: "0.0.0.0", port: rb.lport }, (d) => {
    if (text(d).startsWith("from ") && !heard.b.includes(text(d))) heard.b.push(text(d));
  });
  // Five copies, as a tunnel would retry: on a lossy link one datagram alone may be lost.
  for (let i = 0; i < TUNNEL_COPIES; i++) {
    ta.send(new TextEncoder().encode("from a"), { host: ra.rhost, port: ra.rport });
    tb.send(new TextEncoder().encode("from b"), { host: rb.rhost, port: rb.rport });
    await sim.run(100);
  }
  await sim.run(1_000);
  ta.close();
  tb.close();
  expect(heard).toEqual({ a: ["from b"], b: ["from a"] });
}

/** A datagram the server's main port sent. */
export const fromServer = (r: TraceRecord) => r.what === "send" && sameEndpoint(r.from, SERVER);

/** The server never sent an address more bytes than it received from it. */
export function expectNoAmplification(trace: TraceRecord[]) {
  const into = new Map<string, number>();
  const out = new Map<string, number>();
  for (const r of trace) {
    if (r.what === "deliver" && sameEndpoint(r.to, SERVER)) {
      const k = formatEndpoint(r.from);
      into.set(k, (into.get(k) ?? 0) + r.size);
    } else if (fromServer(r)) {
      const k = formatEndpoint(r.to);
      out.set(k, (out.get(k) ?? 0) + r.size);
    }
  }
  expect(out.size).toBeGreaterThan(0);
  for (const [k, n] of out) expect(n).toBeLessThanOrEqual(into.get(k) ?? 0);
}
