// The STUN client (stunBinding) on the simulated internet and the fake clock: through a NAT to serve --stun,
// and RFC 8489's retransmission schedule to the millisecond.
import { afterEach, expect, test } from "bun:test";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { type StunBindingResult, stunBinding } from "../../src/stun/client.ts";
import { SERVER, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function bind(sim: Sim, o: { timeoutMs?: number } = {}) {
  const placed = sim.place(1, "nat");
  let result: StunBindingResult | undefined;
  let error: Error | undefined;
  stunBinding({
    server: SERVER,
    transport: placed.host.transport,
    clock: sim.clock,
    random: sim.random(),
    ...o,
  }).then(
    (r) => {
      result = r;
    },
    (e: Error) => {
      error = e;
    },
  );
  await sim.runUntil(() => result !== undefined || error !== undefined, 60_000);
  return { placed, result, error };
}

test("through MASQUERADE to serve --stun: the NAT's public address, the port kept, one round trip", async () => {
  const sim = new Sim(1);
  server = await sim.serve({ stun: true });
  const { placed, result } = await bind(sim);
  expect(result?.mapped).toEqual({ host: placed.publicIp, port: result?.local.port ?? 0 });
  expect(result?.rttMs).toBe(30); // three 5 ms links each way
});

test("a silent server: sends at 0, 500, 1500, 3500 and 7500 ms, then E_SERVER_SILENT at the 10 s timeout", async () => {
  const sim = new Sim(1);
  server = await sim.serve(); // no --stun: it drops STUN as malformed
  const t0 = sim.clock.now();
  const { error } = await bind(sim);
  const sends = sim.net.trace
    .filter((r) => r.what === "send" && r.to.port === SERVER.port)
    .map((r) => r.at - t0);
  expect(sends).toEqual([0, 500, 1_500, 3_500, 7_500]);
  expect(error?.message).toContain("after 5 tries (10 s)");
  expect(sim.clock.now() - t0).toBe(10_000);
});
