import { describe, expect, test } from "bun:test";
import { logFormatOption, makeFormatLogger } from "../../../src/cli/logger.ts";
import { NetpunchError } from "../../../src/errors.ts";

/** A stream that keeps what was written, as a terminal or not. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    stream: { isTTY, write: (s: string) => chunks.push(s) },
    lines: () => chunks.join("").split("\n").slice(0, -1),
  };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("--log-format json: one JSON object per line", () => {
  test("every line parses, with its time, level, tunnel tag and message; fields and errors ride along", () => {
    const out = sink(false);
    const log = makeFormatLogger({ format: "json", stream: out.stream });
    const office = log.withTag("office");
    office.info("partner found");
    office.warn("round 2 failed", new NetpunchError("E_TIMEOUT", "no partner joined"));
    log.withTag("backup").success("connected", { path: "direct", rttMs: 12 });
    log.error("the config has no tunnel");
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(4);
    for (const l of lines) expect(String(l.time)).toMatch(ISO);
    expect(lines.map(({ time: _, ...rest }) => rest)).toEqual([
      { level: "info", tunnel: "office", msg: "partner found" },
      {
        level: "warn",
        tunnel: "office",
        msg: "round 2 failed [E_TIMEOUT] no partner joined",
        error: { code: "E_TIMEOUT", message: "no partner joined" },
      },
      { level: "info", tunnel: "backup", msg: "connected", path: "direct", rttMs: 12 },
      { level: "error", msg: "the config has no tunnel" },
    ]);
  });

  test("a field cannot overwrite the line's own keys; a message with newlines stays one line", () => {
    const out = sink(false);
    makeFormatLogger({ format: "json", stream: out.stream })
      .withTag("office")
      .info("two\nlines", { tunnel: "forged", level: "error", msg: "x" });
    expect(out.lines().length).toBe(1);
    expect(JSON.parse(out.lines()[0] ?? "")).toMatchObject({
      tunnel: "office",
      level: "info",
      msg: "two\nlines",
    });
  });

  test("--quiet keeps only warnings and errors, --verbose adds debug", () => {
    const quiet = sink(false);
    const q = makeFormatLogger({ format: "json", quiet: true, stream: quiet.stream });
    q.info("hidden");
    q.warn("shown");
    expect(quiet.lines().map((l) => JSON.parse(l).msg)).toEqual(["shown"]);
    const verbose = sink(false);
    const v = makeFormatLogger({ format: "json", verbose: true, stream: verbose.stream });
    v.debug("a dropped packet");
    expect(verbose.lines().map((l) => JSON.parse(l).level)).toEqual(["debug"]);
  });
});

describe("--log-format text: tagged by tunnel, timestamped when not on a terminal", () => {
  test("not a terminal (journald, a file): an ISO timestamp first", () => {
    const out = sink(false);
    const log = makeFormatLogger({ format: "text", stream: out.stream });
    log.withTag("office").warn("the tunnel ended; next round in 1 s", { round: 3 });
    const [line] = out.lines();
    const [time, ...rest] = (line ?? "").split(" ");
    expect(time ?? "").toMatch(ISO);
    expect(rest.join(" ")).toBe("[office] warn the tunnel ended; next round in 1 s round=3");
  });

  test("a terminal: no timestamp", () => {
    const out = sink(true);
    makeFormatLogger({ format: "text", stream: out.stream }).withTag("backup").info("up");
    expect(out.lines()).toEqual(["[backup] info up"]);
  });
});

describe("logFormatOption", () => {
  test.each([
    [undefined, "text"],
    ["text", "text"],
    ["json", "json"],
  ])("%p is %p", (value, format) => {
    expect(logFormatOption(value)).toBe(format as "text" | "json");
  });

  test("anything else is a usage error naming the value", () => {
    let e: unknown;
    try {
      logFormatOption("xml");
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(NetpunchError);
    expect((e as NetpunchError).code).toBe("E_USAGE");
    expect((e as NetpunchError).message).toBe('--log-format "xml" is neither text nor json');
  });
});
