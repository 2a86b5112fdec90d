import { describe, expect, test } from "bun:test";
import {
  escapeHelp,
  escapeLabelValue,
  formatExposition,
  formatValue,
  type MetricFamily,
} from "../../../src/metrics/exposition.ts";
import { Histogram } from "../../../src/metrics/histogram.ts";

describe("escaping (text format 0.0.4)", () => {
  test.each([
    ["plain", "plain"],
    ['a "quoted" word', 'a \\"quoted\\" word'],
    ["back\\slash", "back\\\\slash"],
    ["two\nlines", "two\\nlines"],
    ['\\"\n', '\\\\\\"\\n'],
  ])("label value %j is written %j", (value, written) => {
    expect(escapeLabelValue(value)).toBe(written);
  });

  test.each([
    ["plain", "plain"],
    ['quotes "stay"', 'quotes "stay"'],
    ["back\\slash", "back\\\\slash"],
    ["two\nlines", "two\\nlines"],
  ])("HELP text %j is written %j (quotes are not escaped there)", (help, written) => {
    expect(escapeHelp(help)).toBe(written);
  });

  test.each([
    [0, "0"],
    [42, "42"],
    [0.25, "0.25"],
    [Number.POSITIVE_INFINITY, "+Inf"],
    [Number.NEGATIVE_INFINITY, "-Inf"],
    [Number.NaN, "NaN"],
  ])("value %p is written %s", (n, s) => {
    expect(formatValue(n)).toBe(s);
  });
});

describe("formatExposition", () => {
  test("a counter and a gauge: HELP, TYPE, samples with escaped labels, a final line feed", () => {
    const families: MetricFamily[] = [
      {
        name: "netpunch_things_total",
        help: "Things\ncounted.",
        type: "counter",
        samples: [
          { labels: { kind: 'a"b' }, value: 3 },
          { labels: { kind: "c" }, value: 0 },
        ],
      },
      { name: "netpunch_level", help: "A level.", type: "gauge", samples: [{ value: 1.5 }] },
    ];
    expect(formatExposition(families)).toBe(
      [
        "# HELP netpunch_things_total Things\\ncounted.",
        "# TYPE netpunch_things_total counter",
        'netpunch_things_total{kind="a\\"b"} 3',
        'netpunch_things_total{kind="c"} 0',
        "# HELP netpunch_level A level.",
        "# TYPE netpunch_level gauge",
        "netpunch_level 1.5",
        "",
      ].join("\n"),
    );
  });

  test("a histogram: cumulative buckets with le last, +Inf equal to the count, sum and count", () => {
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.5, 0.5, 3]) h.observe(v);
    const text = formatExposition([
      { name: "netpunch_wait_seconds", help: "Waits.", type: "histogram", samples: [h.sample({ op: "x" })] },
    ]);
    expect(text).toBe(
      [
        "# HELP netpunch_wait_seconds Waits.",
        "# TYPE netpunch_wait_seconds histogram",
        'netpunch_wait_seconds_bucket{op="x",le="0.1"} 1',
        'netpunch_wait_seconds_bucket{op="x",le="1"} 3',
        'netpunch_wait_seconds_bucket{op="x",le="+Inf"} 4',
        'netpunch_wait_seconds_sum{op="x"} 4.05',
        'netpunch_wait_seconds_count{op="x"} 4',
        "",
      ].join("\n"),
    );
  });

  test("a histogram without labels has only le in braces", () => {
    const h = new Histogram([1]);
    h.observe(2);
    const text = formatExposition([
      { name: "netpunch_h", help: "h", type: "histogram", samples: [h.sample()] },
    ]);
    expect(text).toContain('netpunch_h_bucket{le="1"} 0\nnetpunch_h_bucket{le="+Inf"} 1\nnetpunch_h_sum 2\n');
  });

  test("nothing to show is an empty document", () => {
    expect(formatExposition([])).toBe("");
  });

  test.each<[string, MetricFamily]>([
    ["a counter without _total", { name: "netpunch_things", help: "", type: "counter", samples: [] }],
    ["a gauge with _total", { name: "netpunch_level_total", help: "", type: "gauge", samples: [] }],
    ["a name with a dash", { name: "netpunch-level", help: "", type: "gauge", samples: [] }],
    [
      "a reserved label name",
      { name: "netpunch_level", help: "", type: "gauge", samples: [{ labels: { __x: "1" }, value: 1 }] },
    ],
    [
      "a label name with a dot",
      { name: "netpunch_level", help: "", type: "gauge", samples: [{ labels: { "a.b": "1" }, value: 1 }] },
    ],
    [
      "le on a histogram",
      {
        name: "netpunch_h",
        help: "",
        type: "histogram",
        samples: [{ labels: { le: "1" }, buckets: [], sum: 0, count: 0 }],
      },
    ],
  ])("refuses %s (a bug, never printed)", (_what, family) => {
    expect(() => formatExposition([family])).toThrow();
  });

  test("refuses a family given twice", () => {
    const f: MetricFamily = { name: "netpunch_level", help: "", type: "gauge", samples: [] };
    expect(() => formatExposition([f, f])).toThrow("twice");
  });
});

describe("Histogram", () => {
  test("a value on a bound counts in that bucket (le: less or equal)", () => {
    const h = new Histogram([1, 2]);
    h.observe(1);
    h.observe(2);
    expect(h.sample().buckets).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  test("bounds must increase", () => {
    expect(() => new Histogram([1, 1])).toThrow();
  });
});
