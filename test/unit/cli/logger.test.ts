import { describe, expect, test } from "bun:test";
import { eventLogger, makeLogger, preloadLogger } from "../../../src/cli/logger.ts";
import { captureOutput } from "../support.ts";

describe("makeLogger: consola, created when first needed", () => {
  test("a call its level filters out prints nothing; the others print on stderr, in order", async () => {
    const r = await captureOutput(() => {
      const log = makeLogger({ quiet: true });
      log.info("not shown");
      log.debug("not shown either");
      log.warn("first");
      log.info("still not shown");
      log.error("second");
    });
    expect(r.out).toBe("");
    expect(r.err).not.toContain("not shown");
    expect(r.err.indexOf("first")).toBeGreaterThanOrEqual(0);
    expect(r.err.indexOf("second")).toBeGreaterThan(r.err.indexOf("first"));
  });

  test("its level is the one asked for, before and after consola is loaded; setting it reaches consola", async () => {
    const log = makeLogger({ verbose: true });
    expect(log.level).toBe(4);
    const r = await captureOutput(() => {
      log.debug("shown at --verbose");
      log.level = 1;
      log.info("not at level 1");
    });
    expect(log.level).toBe(1);
    expect(r.err).toContain("shown at --verbose");
    expect(r.err).not.toContain("not at level 1");
  });

  test("preloadLogger loads it in a later turn, and the logger then works as before", async () => {
    const log = makeLogger({});
    preloadLogger(log);
    await Bun.sleep(1);
    const r = await captureOutput(() => log.info("after the preload"));
    expect(r.err).toContain("after the preload");
    expect(typeof log.withTag).toBe("function"); // the rest of consola's API, for hooks
  });
});

describe("eventLogger: a long wait is said at info level", () => {
  test("still-waiting becomes 'still waiting for role b in session \"X\", 2 min', shown without --verbose", async () => {
    const log = makeLogger({});
    const r = await captureOutput(() =>
      eventLogger(log)({ type: "still-waiting", session: "X", partnerRole: "b", waitedMs: 120_000 }),
    );
    expect(r.err).toContain('still waiting for role b in session "X", 2 min');
    const quiet = await captureOutput(() =>
      eventLogger(makeLogger({ quiet: true }))({
        type: "still-waiting",
        session: "X",
        partnerRole: "b",
        waitedMs: 120_000,
      }),
    );
    expect(quiet.err).toBe(""); // info: -q hides it
  });
});

describe("eventLogger: a multi-tenant server's lines name the tenant", () => {
  test("a relay opened for a tenant's pair says whose it is; without a tenant, as before", async () => {
    const pairId = "0123456789abcdef0123456789abcdef";
    const r = await captureOutput(() => {
      const on = eventLogger(makeLogger({}));
      on({ type: "server-relay", pairId, port: 20_001, tenant: "acme" });
      on({ type: "server-relay", pairId, port: 20_002 });
    });
    expect(r.err).toContain("relay for tenant acme pair 01234567 on UDP port 20001");
    expect(r.err).toContain("relay for pair 01234567 on UDP port 20002");
  });
});
