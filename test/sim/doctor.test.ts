// netpunch doctor as shipped (doctor()) against serve() --alt-port on the simulated internet: the verdicts
// test/lab/doctor.test.ts gets in the namespace lab, here without root, on a fake clock.
import { afterEach, expect, test } from "bun:test";
import { type DoctorReport, doctor } from "../../src/nat/doctor.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { NatOptions } from "../../src/transport/nat-box.ts";
import { MASQUERADE, type Placed, RANDOM_FULLY, SECRET, SERVER, type Side, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function diagnose(
  side: Side | NatOptions,
): Promise<{ report: DoctorReport; placed: Placed; ms: number }> {
  const sim = new Sim(1);
  server = await sim.serve();
  const placed =
    typeof side === "string"
      ? sim.place(1, side)
      : (() => {
          const gw = sim.net.nat("198.18.1.1", side);
          const host = sim.net.host("198.19.1.10", { behind: gw });
          return { host, publicIp: gw.publicIp, lanIp: "198.19.1.10", gateway: gw };
        })();
  let report: DoctorReport | undefined;
  let error: unknown;
  const t0 = sim.clock.now();
  doctor({
    server: SERVER,
    secret: SECRET,
    transport: placed.host.transport,
    interfaces: placed.host.interfaces,
    clock: sim.clock,
    random: sim.random(),
  }).then(
    (r) => {
      report = r;
    },
    (e) => {
      error = e;
    },
  );
  await sim.runUntil(() => report !== undefined || error !== undefined, 10_000);
  if (!report) throw error ?? new Error("doctor did not finish");
  return { report, placed, ms: sim.clock.now() - t0 };
}

test("a public host: no NAT, direct", async () => {
  const { report, placed } = await diagnose("public");
  expect([report.nat.mapping, report.verdict]).toEqual(["none", "direct"]);
  expect(report.observed.first).toStartWith(`${placed.publicIp}:`);
});

test("MASQUERADE: endpoint-independent mapping, port kept, filtering by address and port, no hairpin: direct", async () => {
  const { report, placed, ms } = await diagnose("nat");
  expect(report.nat).toEqual({ mapping: "independent", step: 0 });
  expect(report.portPreserved).toBe(true);
  expect(report.filtering).toBe("address-and-port-dependent");
  expect(report.hairpin).toBe(false);
  expect(report.verdict).toBe("direct");
  expect(report.observed.first).toStartWith(`${placed.publicIp}:`);
  // Filtering and hairpin never answer: they get until 1 s before the 3 s deadline, no longer.
  expect(ms).toBeGreaterThanOrEqual(2_000);
  expect(ms).toBeLessThan(3_000);
});

test("MASQUERADE --random-fully: a symmetric NAT with random ports needs the relay", async () => {
  const { report } = await diagnose("symmetric");
  expect(report.nat.mapping).toBe("random");
  expect(report.verdict).toBe("relay");
});

test("a full-cone NAT that hairpins: endpoint-independent filtering and hairpin are seen as such", async () => {
  const { report } = await diagnose({ ...MASQUERADE, filtering: "endpoint-independent", hairpin: true });
  expect([report.filtering, report.hairpin, report.verdict]).toEqual([
    "endpoint-independent",
    true,
    "direct",
  ]);
});

test("a symmetric NAT with sequential ports: prediction", async () => {
  const { report } = await diagnose({ ...RANDOM_FULLY, allocation: "sequential" });
  expect(report.nat.mapping).toBe("sequential");
  expect(report.verdict).toBe("prediction");
});
