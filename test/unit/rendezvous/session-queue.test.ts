import { expect, test } from "bun:test";
import { SessionQueue } from "../../../src/rendezvous/session-queue.ts";

/** A job that records its start and end, and ends only when `release` is called. */
function gated(log: string[], name: string) {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const job = async () => {
    log.push(`${name} start`);
    await gate;
    log.push(`${name} end`);
    return name;
  };
  return { job, release: () => release() };
}

test("jobs of one session run one after the other; another session's job does not wait for them", async () => {
  const q = new SessionQueue();
  const log: string[] = [];
  const [a1, a2, b1] = [gated(log, "a1"), gated(log, "a2"), gated(log, "b1")];
  const runs = [q.run("a", a1.job), q.run("a", a2.job), q.run("b", b1.job)];
  await null;
  expect(log).toEqual(["a1 start", "b1 start"]);
  b1.release();
  a1.release();
  a2.release();
  expect(await Promise.all(runs)).toEqual(["a1", "a2", "b1"]);
  expect(log).toEqual(["a1 start", "b1 start", "b1 end", "a1 end", "a2 start", "a2 end"]);
  await null;
  expect(q.size).toBe(0);
});

test("a failed job rejects its own run only; the session's next job still runs", async () => {
  const q = new SessionQueue();
  const boom = new Error("store down");
  const failed = q.run("s", async () => {
    throw boom;
  });
  const next = q.run("s", async () => "next");
  await expect(failed).rejects.toBe(boom);
  expect(await next).toBe("next");
});
