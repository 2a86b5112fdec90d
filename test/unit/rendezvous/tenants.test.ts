// Tenant lists and the keyring that finds which tenant's key a packet authenticates with.
import { describe, expect, test } from "bun:test";
import { deriveKey } from "../../../src/protocol/auth.ts";
import { NONCE_LEN } from "../../../src/protocol/constants.ts";
import { seal } from "../../../src/protocol/packet.ts";
import { checkTenants, MAX_REMEMBERED_SOURCES, TenantKeyring } from "../../../src/rendezvous/tenants.ts";
import { netpunchError, TS } from "../support.ts";

const tenant = (name: string) => ({ name, key: deriveKey(`${name} secret, long enough to skip scrypt`) });
const packet = (key: Uint8Array, n = 0) =>
  seal(
    key,
    { type: "leave", session: "s", role: "a", peerId: "p" },
    {
      timestamp: TS,
      nonce: new Uint8Array(NONCE_LEN).fill(n),
    },
  );

/** A keyring over tenants of these names (the cost of a lookup is measured in bench/tenants.ts). */
function keyring(names: string[]) {
  const tenants = names.map(tenant);
  return { tenants, ring: new TenantKeyring(tenants) };
}

describe("TenantKeyring.find", () => {
  test("finds each tenant's packets, from any address, and nothing for a stranger's or a forgery", () => {
    const { tenants, ring } = keyring(["acme", "globex", "initech"]);
    for (const t of tenants) expect(ring.find(packet(t.key), "198.51.100.1")?.name).toBe(t.name);
    expect(
      ring.find(packet(deriveKey("a stranger's secret, long enough too")), "198.51.100.1"),
    ).toBeUndefined();
    const forged = packet(tenants[0]?.key as Uint8Array);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    expect(ring.find(forged, "198.51.100.1")).toBeUndefined();
    expect(ring.find(new Uint8Array(10), "198.51.100.1")).toBeUndefined();
  });

  test("the address only orders the tries: two tenants' peers behind one NAT are each found", () => {
    const { tenants, ring } = keyring(["acme", "globex"]);
    const [acme, globex] = tenants as [ReturnType<typeof tenant>, ReturnType<typeof tenant>];
    const nat = "203.0.113.9";
    expect(ring.find(packet(globex.key, 1), nat)?.name).toBe("globex");
    expect(ring.find(packet(acme.key, 2), nat)?.name).toBe("acme");
    expect(ring.find(packet(globex.key, 3), nat)?.name).toBe("globex");
  });

  test("set() replaces the tenants: a removed one's packets are found no more, even from its remembered address", () => {
    const { tenants, ring } = keyring(["acme", "globex"]);
    const [acme, globex] = tenants as [ReturnType<typeof tenant>, ReturnType<typeof tenant>];
    expect(ring.find(packet(acme.key), "198.51.100.2")?.name).toBe("acme");
    ring.set([globex]);
    expect(ring.find(packet(acme.key, 1), "198.51.100.2")).toBeUndefined();
    expect(ring.size).toBe(1);
  });

  test(`it remembers at most ${MAX_REMEMBERED_SOURCES} addresses and still finds every packet past that`, () => {
    const { tenants, ring } = keyring(["acme", "globex"]);
    const globex = tenants[1] as ReturnType<typeof tenant>;
    const p = packet(globex.key);
    for (let i = 0; i <= MAX_REMEMBERED_SOURCES; i++) expect(ring.find(p, `h${i}`)?.name).toBe("globex");
    expect((ring as unknown as { last: Map<string, unknown> }).last.size).toBe(MAX_REMEMBERED_SOURCES);
    expect(ring.find(p, "h0")?.name).toBe("globex"); // the oldest, forgotten: found by trying the keys
  });
});

describe("checkTenants", () => {
  const keys = (n: number) =>
    Array.from({ length: n }, (_, i) => deriveKey(`key ${i} of a tenant, 32 bytes or more`));
  test("a valid list passes", () => {
    expect(() =>
      checkTenants(
        [
          { name: "a", secret: "x" },
          { name: "b-2_c", secret: "y" },
        ],
        keys(2),
      ),
    ).not.toThrow();
  });
  test.each([
    ["none", [], [], "no tenants"],
    ["a bad name", [{ name: "", secret: "x" }], keys(1), "is not 1 to 32"],
    [
      "a name twice",
      [
        { name: "a", secret: "x" },
        { name: "a", secret: "y" },
      ],
      keys(2),
      "named twice",
    ],
    [
      "one key twice",
      [
        { name: "a", secret: "x" },
        { name: "b", secret: "x" },
      ],
      [keys(1)[0], keys(1)[0]],
      "same secret",
    ],
  ] as const)("%s: E_TENANTS", (_, list, k, why) => {
    const e = netpunchError(() => checkTenants(list as never, k as never));
    expect([e.code, e.message.includes(why)]).toEqual(["E_TENANTS", true]);
  });
});
