// The original README's bash client loop, run unchanged against the netpunch CLI across two real NATs,
// with a stub in place of openvpn: the stub must receive the lport, rhost and rport of the real hole.
import { expect } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { labPerTest } from "../../lab/lab.ts";
import { BUN, CLI, PEER_PORT, SERVER_PORT, waitStderr } from "../../lab/netpunch.ts";
import { serverAndPair } from "../../lab/placements.ts";

const FIXTURES = join(import.meta.dir, "../fixtures");
const labs = labPerTest();

labs.test(
  "the seed README's params=($(netpunch a ...)) loop hands openvpn the right lport, rhost, rport",
  async () => {
    const lab = labs.create();
    const dir = labs.tempDir("netpunch-seed-");
    const wrapper = join(dir, "netpunch");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${BUN} ${CLI} "$@"\n`);
    chmodSync(wrapper, 0o755);

    const { server, serverIp, a: placedA, b: placedB } = await serverAndPair(lab, "nat", "nat");
    const [a, b, gwAIp, gwBIp] = [placedA.host, placedB.host, placedA.publicIp, placedB.publicIp];

    const srv = lab.spawn(server, [wrapper, "c", "SeCrEt", `:${SERVER_PORT}`]);
    await waitStderr(srv, /listening on UDP/);
    const l = lab;
    const run = (host: typeof a, role: string) =>
      l.spawn(host, ["bash", join(FIXTURES, "seed-client.sh"), role, `${serverIp}:${SERVER_PORT}`], {
        env: {
          NETPUNCH: wrapper,
          OPENVPN: join(FIXTURES, "record-args.sh"),
          STUB_OUT: join(dir, `openvpn-${role}.args`),
        },
        cwd: dir,
      });
    const pa = run(a, "a");
    await Bun.sleep(2_000);
    const pb = run(b, "b");
    expect(await pa.exited).toBe(0);
    expect(await pb.exited).toBe(0);

    const argsOf = (role: string) =>
      readFileSync(join(dir, `openvpn-${role}.args`), "utf8")
        .trim()
        .split("\n");
    const value = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];
    const va = argsOf("a");
    const vb = argsOf("b");
    expect([value(va, "--remote"), value(va, "--rport"), value(va, "--lport")]).toEqual([
      gwBIp,
      String(PEER_PORT),
      String(PEER_PORT),
    ]);
    expect([value(vb, "--remote"), value(vb, "--rport"), value(vb, "--lport")]).toEqual([
      gwAIp,
      String(PEER_PORT),
      String(PEER_PORT),
    ]);
    expect(value(va, "--secret")).toBe("secret.key"); // the rest of the README's options pass through untouched
    expect(await pa.stdout()).toContain(
      `******* GOT LPORT=${PEER_PORT} RHOST=${gwBIp} RPORT=${PEER_PORT} *******`,
    );
  },
);
