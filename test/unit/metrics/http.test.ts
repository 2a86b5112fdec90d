import { describe, expect, test } from "bun:test";
import { EXPOSITION_CONTENT_TYPE } from "../../../src/metrics/exposition.ts";
import { firstFailure, HEALTHY, type Health } from "../../../src/metrics/health.ts";
import { answer } from "../../../src/metrics/http.ts";

const METRICS = "# HELP netpunch_x x\n# TYPE netpunch_x gauge\nnetpunch_x 1\n";
const at = (path: string, method = "GET") => new Request(`http://127.0.0.1:9464${path}`, { method });
const with_ = (health: Health) => ({ metrics: () => METRICS, health: async () => health });

describe("answer: the metrics listener's routes", () => {
  test("/metrics: the exposition, with the format's content type", async () => {
    const r = await answer(at("/metrics"), with_(HEALTHY));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe(EXPOSITION_CONTENT_TYPE);
    expect(await r.text()).toBe(METRICS);
  });

  test("/healthz: 200 ok while healthy, 503 with the reason when not", async () => {
    const ok = await answer(at("/healthz"), with_(HEALTHY));
    expect([ok.status, await ok.text()]).toEqual([200, "ok\n"]);
    const bad = await answer(at("/healthz"), with_({ ok: false, reason: "the UDP socket is closed" }));
    expect([bad.status, await bad.text()]).toEqual([503, "the UDP socket is closed\n"]);
  });

  test.each(["/", "/metrics/", "/favicon.ico", "/healthz/x"])("%s: 404", async (path) => {
    expect((await answer(at(path), with_(HEALTHY))).status).toBe(404);
  });

  test.each(["POST", "PUT", "DELETE"])("%s: 405, GET and HEAD allowed", async (method) => {
    const r = await answer(at("/metrics", method), with_(HEALTHY));
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("firstFailure", () => {
  test("healthy when every check is", async () => {
    expect(await firstFailure([() => HEALTHY, async () => HEALTHY])).toEqual(HEALTHY);
  });

  test("the first failing check's reason, on one line", async () => {
    const h = await firstFailure([
      () => HEALTHY,
      () => ({ ok: false, reason: "store\nunreachable" }),
      () => ({ ok: false, reason: "second" }),
    ]);
    expect(h).toEqual({ ok: false, reason: "store unreachable" });
  });

  test("a check that throws fails with its message", async () => {
    const h = await firstFailure([
      async () => {
        throw new Error("connect ECONNREFUSED");
      },
    ]);
    expect(h).toEqual({ ok: false, reason: "connect ECONNREFUSED" });
  });

  test("a check that never answers fails after the timeout", async () => {
    const h = await firstFailure([() => new Promise<Health>(() => {})], 20);
    expect(h).toEqual({ ok: false, reason: "a health check did not answer in time" });
  });
});
