import { describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import * as v from "valibot";
import { builtinHooks } from "../../../plugins/index.ts";
import print, { jsonLine, seedLine } from "../../../plugins/print.ts";
import type { PunchResult } from "../../../src/types.ts";
import { sampleResult } from "../../support/result.ts";
import { captureOutput } from "../support.ts";

const v4 = sampleResult();

const v6: PunchResult = {
  ...v4,
  role: "b",
  session: "lab-1",
  laddr: "[::]:10000",
  lhost: "::",
  raddr: "[2001:db8::20]:40002",
  rhost: "2001:db8::20",
  via: "lan",
  candidate: "lan",
  rttMs: 1,
  publicAddr: "[2001:db8::10]:40001",
};

const bashAvailable = Bun.which("bash") !== null;

describe("seed line", () => {
  test("exact format of the original tool", () => {
    expect(seedLine(v4)).toBe(
      "LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 0.0.0.0:10000 0.0.0.0 10000 203.0.113.20:40002 203.0.113.20 40002",
    );
    expect(seedLine(v6)).toBe(
      "LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: [::]:10000 :: 10000 [2001:db8::20]:40002 2001:db8::20 40002",
    );
  });

  test("7 fields separated by single spaces, no trailing space", () => {
    for (const r of [v4, v6]) {
      const line = seedLine(r);
      expect(line).not.toContain("  ");
      expect(line).not.toMatch(/\s$/);
      expect(line).not.toContain("\n");
      const fields = line.split(" ");
      expect(fields).toHaveLength(7);
      expect(fields[3]).toBe(String(r.lport));
      expect(fields[5]).toBe(r.rhost);
      expect(fields[6]).toBe(String(r.rport));
    }
  });

  test.if(bashAvailable)("bash params=($(...)) gives lport at [3], rhost at [5], rport at [6]", () => {
    for (const r of [v4, v6]) {
      const p = Bun.spawnSync(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: this is bash, not a template
        ["bash", "-c", 'params=($(cat)); echo "${#params[@]} ${params[3]} ${params[5]} ${params[6]}"'],
        {
          stdin: new TextEncoder().encode(`${seedLine(r)}\n`),
        },
      );
      expect(p.stdout.toString()).toBe(`7 ${r.lport} ${r.rhost} ${r.rport}\n`);
    }
  });
});

describe("JSON line", () => {
  test("one object with every field, in a fixed order", () => {
    const line = jsonLine(v4);
    expect(line).not.toContain("\n");
    const obj = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(obj)).toEqual([
      "laddr",
      "lhost",
      "lport",
      "raddr",
      "rhost",
      "rport",
      "role",
      "session",
      "via",
      "candidate",
      "rttMs",
      "publicAddr",
    ]);
    expect(obj).toEqual({
      laddr: "0.0.0.0:10000",
      lhost: "0.0.0.0",
      lport: 10000,
      raddr: "203.0.113.20:40002",
      rhost: "203.0.113.20",
      rport: 40002,
      role: "a",
      session: "default",
      via: "direct",
      candidate: "public",
      rttMs: 23,
      publicAddr: "198.51.100.10:40001",
    });
  });

  test("the partner's offer, only when there is one, last and in base64", () => {
    const obj = JSON.parse(jsonLine({ ...v4, partnerOffer: Uint8Array.from([0xfb, 0xff, 0x00]) }));
    expect(Object.keys(obj).at(-1)).toBe("partnerOffer");
    expect(obj.partnerOffer).toBe("+/8A");
    expect("partnerOffer" in JSON.parse(jsonLine(v4))).toBe(false);
  });

  test("ports and rtt are numbers", () => {
    const obj = JSON.parse(jsonLine(v6)) as Record<string, unknown>;
    expect(typeof obj.lport).toBe("number");
    expect(typeof obj.rport).toBe("number");
    expect(typeof obj.rttMs).toBe("number");
    expect(obj.via).toBe("lan");
  });
});

describe("the print plugin", () => {
  const logger = createConsola({ level: 0 });
  const signal = new AbortController().signal;
  // Built as a value (not an inline literal) so it fits the context type with or without newer optional fields.
  const ctx = (json: boolean, format?: string) => ({
    args: { _: [] as string[], json, format } as unknown as Parameters<typeof print.run>[1]["args"],
    options: { json, format } as unknown as Parameters<typeof print.run>[1]["options"],
    state: {},
    logger,
    signal,
    extraArgs: [] as string[],
    env: {},
  });

  test("is the built-in hook named print, with a --json option", async () => {
    expect(print.name).toBe("print");
    expect(await builtinHooks.find((h) => h.name === "print")?.load()).toBe(print);
    expect(print.args?.json?.type).toBe("boolean");
  });

  test("prints the seed line and a newline on stdout, nothing on stderr", async () => {
    const { out, err } = await captureOutput(() => print.run(v4, ctx(false)));
    expect(out).toBe(`${seedLine(v4)}\n`);
    expect(err).toBe("");
  });

  test("--format fills the template; an unknown field is refused before any packet", async () => {
    const { out } = await captureOutput(() => print.run(v4, ctx(false, "{rhost} {rport} {{x}")));
    expect(out).toBe(`${v4.rhost} ${v4.rport} {x}\n`);
    const check = (format: string) => v.safeParse(print.check as v.GenericSchema, { format }).success;
    expect(check("{lport} {via}")).toBe(true);
    expect(check("{lprot}")).toBe(false);
  });

  test("--json prints the JSON line instead", async () => {
    const { out } = await captureOutput(() => print.run(v6, ctx(true)));
    expect(out).toBe(`${jsonLine(v6)}\n`);
  });
});
