// NAT behaviour and mapped ports travel through the rendezvous: REGISTER carries them, MATCH passes them on.
import { describe, expect, test } from "bun:test";
import { cliExplanation } from "../../../src/cli/hints.ts";
import { classifyMapping, verdict } from "../../../src/nat/classify.ts";
import type { Register } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { Spray, sprayPorts, strategyFor } from "../../../src/punch/birthday.ts";
import { frameOf, KEY, makeCore, nonceBytes, prng, registerWithCookie } from "../support.ts";

const EA = { host: "198.18.2.2", port: 40001 };
const EB = { host: "198.18.3.2", port: 50002 };

test("REGISTER with NAT info and a mapped port round-trips; without them it is the same bytes as before", async () => {
  const p = { timestamp: 1_700_000_000_000, nonce: nonceBytes() };
  const base: Register = {
    type: "register",
    session: "s",
    role: "a",
    peerId: "11".repeat(8),
    candidates: [],
  };
  const full: Register = {
    ...base,
    nat: { mapping: "sequential", step: -3 },
    candidates: [{ kind: "mapped", host: "198.18.9.2", port: 61000 }],
  };
  const o = open(KEY, seal(KEY, full, p));
  expect(o.ok && o.frame.msg).toEqual(full);
  const bare = open(KEY, seal(KEY, base, p));
  expect(bare.ok && bare.frame.msg).toEqual(base);
});

test("MATCH carries the partner's NAT behaviour, the alt port, and its mapped port as a 'mapped' candidate", async () => {
  const core = makeCore({ randomHex: () => "ab".repeat(16), altPort: 10002 });
  const nat = { mapping: "random", step: 977 } as const;
  const mapped = { host: "198.18.2.2", port: 61000 };
  await registerWithCookie(
    core,
    EA,
    {
      type: "register",
      session: "s",
      role: "a",
      peerId: "11".repeat(8),
      candidates: [{ kind: "mapped", ...mapped }],
      nat,
    },
    0,
  );
  const out = await registerWithCookie(
    core,
    EB,
    { type: "register", session: "s", role: "b", peerId: "22".repeat(8), candidates: [] },
    1,
  );
  const toB = out.find((x) => x.kind === "send" && x.to.port === EB.port);
  expect(toB?.kind === "send" && toB.msg).toMatchObject({
    type: "match",
    to: "22".repeat(8),
    altPort: 10002,
    partnerNat: nat,
    candidates: [
      { kind: "public", ...EA },
      { kind: "mapped", ...mapped },
    ],
  });
});

describe("NAT behaviour", () => {
  const local = { port: 10000, hosts: ["192.0.2.10"] };
  test("classification from what two server ports saw", async () => {
    expect(classifyMapping(EA, EA, local)).toEqual({ mapping: "independent", step: 0 });
    expect(
      classifyMapping({ host: "192.0.2.10", port: 10000 }, { host: "192.0.2.10", port: 10000 }, local)
        .mapping,
    ).toBe("none");
    expect(classifyMapping(EA, { ...EA, port: EA.port + 2 }, local)).toEqual({
      mapping: "sequential",
      step: 2,
    });
    expect(classifyMapping(EA, { ...EA, port: 9000 }, local)).toEqual({
      mapping: "random",
      step: 9000 - EA.port,
    });
    expect(verdict({ mapping: "random", step: 5 }).verdict).toBe("relay");
  });

  test.each(["none", "independent", "sequential", "random"] as const)(
    "verdict for %s: its text names no flag; the CLI adds serve --relay where the relay is needed",
    (mapping) => {
      const v = verdict({ mapping, step: 5 });
      expect(v.text).not.toMatch(/(^|\s|\()--?[a-z]/);
      expect(cliExplanation(v.verdict, v.text)).toBe(
        v.verdict === "relay" ? `${v.text} (serve --relay)` : v.text,
      );
    },
  );

  test("strategy: birthday roles only for one hard and one easy side; both hard go to the relay", () => {
    const easy = { mapping: "independent", step: 0 } as const;
    const hard = { mapping: "random", step: 1234 } as const;
    expect(strategyFor(hard, easy)).toBe("hard");
    expect(strategyFor(easy, hard)).toBe("easy");
    expect(strategyFor(hard, hard)).toBe("relay");
    expect(strategyFor(easy, easy)).toBe("plain");
    expect(strategyFor(undefined, hard)).toBe("plain");
  });

  test("spray: predicted ports of a sequential NAT first, then distinct random unprivileged ports", async () => {
    const ports = sprayPorts(
      { host: EA.host, port: 40000 },
      { mapping: "sequential", step: 2 },
      2048,
      prng(7),
    );
    expect(ports.slice(0, 3)).toEqual([40002, 40004, 40006]);
    expect(new Set(ports).size).toBe(2048);
    expect(ports.filter((p) => !(p >= 1024 && p <= 65535 && p !== 40000))).toEqual([]);
    const spray = new Spray(EA.host, ports, 64, 60, 32);
    expect(spray.next(0)).toHaveLength(64);
    expect(spray.next(59)).toEqual([]); // the rate is bounded
    expect(spray.next(60)).toHaveLength(64);
    expect(spray.isPredicted(40002)).toBe(true);
    expect(spray.isPredicted(ports[100] ?? 0)).toBe(false);
  });
});

test("NAT_UPDATE after the match reaches the partner as PARTNER_NAT, also after the session has ended", async () => {
  const core = makeCore({ randomHex: () => "ab".repeat(16) });
  const A = "11".repeat(8);
  const B = "22".repeat(8);
  await registerWithCookie(
    core,
    EA,
    { type: "register", session: "s", role: "a", peerId: A, candidates: [] },
    0,
  );
  await registerWithCookie(
    core,
    EB,
    { type: "register", session: "s", role: "b", peerId: B, candidates: [] },
    1,
  );
  const nat = { mapping: "random", step: 31 } as const;
  const update = frameOf({ type: "natUpdate", session: "s", pairId: "ab".repeat(16), peerId: B, nat });
  expect(await core.onFrame(EB, update, 2)).toEqual([
    { kind: "send", to: EA, msg: { type: "partnerNat", to: A, pairId: "ab".repeat(16), nat } },
  ]);
  await core.onFrame(EA, frameOf({ type: "matchAck", session: "s", pairId: "ab".repeat(16), peerId: A }), 3);
  await core.onFrame(EB, frameOf({ type: "matchAck", session: "s", pairId: "ab".repeat(16), peerId: B }), 3);
  const late = frameOf({ type: "natUpdate", session: "s", pairId: "ab".repeat(16), peerId: B, nat });
  expect((await core.onFrame(EB, late, 500)).map((x) => x.kind === "send" && [x.to, x.msg])).toEqual([
    [EA, { type: "partnerNat", to: A, pairId: "ab".repeat(16), nat }],
  ]);
  const stranger = frameOf({
    type: "natUpdate",
    session: "s",
    pairId: "ab".repeat(16),
    peerId: "33".repeat(8),
    nat,
  });
  expect((await core.onFrame(EB, stranger, 500)).map((x) => x.kind)).toEqual(["event"]); // not a peer of the pair
});
