import { NetpunchError } from "../errors.ts";
import { verifyTagAt } from "../protocol/auth.ts";
import { HEADER_LEN, MAGIC, TAG_LEN } from "../protocol/constants.ts";
import { toHex } from "../sys/random.ts";
import type { RendezvousLimits } from "./core.ts";

/**
 * @default 64 tenants: a packet that authenticates with no tenant's key (a forgery, a stranger, a removed
 * tenant's peer) is tried with every key, so it costs the server one HMAC per tenant: bench/tenants.ts
 * measured a forged 512-byte REGISTER at 49x a one-secret server's cost with 64 tenants (41 us against
 * 0.84), 6.7x with 8. 64 keeps a flood of forgeries to tens of thousands a second per core before the
 * server falls behind; more tenants belong on another server.
 */
export const MAX_TENANTS = 64;

/**
 * @default 65,536 source addresses: which tenant last authenticated from an address is remembered so its next
 * packet costs one HMAC; only authenticated packets add one, and when full the oldest is forgotten (its next
 * packet then tries the keys in order, as a newcomer's does). About 100 bytes each: 6 MB at most.
 */
export const MAX_REMEMBERED_SOURCES = 65_536;

/** A tenant name: what logs, metrics and shared-store keys carry, so letters, digits, `-` and `_` only. */
export const TENANT_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** One tenant of a multi-tenant server: its own secret, and caps of its own (the server's by default). */
export interface TenantOptions {
  /** Letters, digits, `-` and `_`, 1 to 32 characters (TENANT_NAME); unique on the server. */
  name: string;
  /** The tenant's shared secret, as a peer of it passes to connect(): a string (its UTF-8 bytes) or bytes. */
  secret: string | Uint8Array;
  /** This tenant's caps on sessions (all of them, per source address); each defaults to the server's. */
  limits?: Partial<RendezvousLimits>;
  /**
   * Relayed pairs this tenant may hold on this server at once (of the server's `relay.maxSessions`); a pair
   * beyond it is told the relay is full. @default no share of its own: any free slot
   */
  maxRelays?: number;
}

/** A tenant the keyring can open packets for: its name and its packet key. */
export interface Keyed {
  readonly name: string;
  readonly key: Uint8Array;
}

const tenantsFail = (message: string, hint: string) => new NetpunchError("E_TENANTS", message, hint);

/**
 * Checks a tenant list before a server takes it: 1 to MAX_TENANTS tenants, valid unique names, and no two
 * tenants with the same packet key (`keys[i]` is tenant i's, derived by the caller): packets of two such
 * tenants could not be told apart, so either could meet the other's peers. Throws E_TENANTS.
 */
export function checkTenants(tenants: readonly TenantOptions[], keys: readonly Uint8Array[]): void {
  if (tenants.length === 0) throw tenantsFail("no tenants given", "name at least one tenant and its secret");
  if (tenants.length > MAX_TENANTS)
    throw tenantsFail(
      `${tenants.length} tenants, more than ${MAX_TENANTS}`,
      `every forged packet is tried with each tenant's key: run another server for tenants beyond ${MAX_TENANTS}`,
    );
  const names = new Set<string>();
  const byKey = new Map<string, string>();
  tenants.forEach((t, i) => {
    if (!TENANT_NAME.test(t.name))
      throw tenantsFail(
        `tenant name ${JSON.stringify(t.name)} is not 1 to 32 letters, digits, - or _`,
        "e.g. acme, team-2",
      );
    if (names.has(t.name))
      throw tenantsFail(`tenant ${t.name} is named twice`, "give each tenant its own name");
    names.add(t.name);
    const hex = toHex(keys[i] ?? new Uint8Array(0));
    const twin = byKey.get(hex);
    if (twin !== undefined)
      throw tenantsFail(
        `tenants ${twin} and ${t.name} have the same secret: their peers could not be told apart`,
        "give each tenant its own secret (netpunch keygen makes one)",
      );
    byKey.set(hex, t.name);
  });
}

/**
 * Finds which tenant's key a packet authenticates with. The tenant that last authenticated from the packet's
 * source address is tried first, then the others in order: a known peer's packet costs one HMAC, a
 * newcomer's up to one per tenant, and a forged one exactly one per tenant (MAX_TENANTS bounds it). The
 * address says nothing about the tenant by itself (peers of two tenants may share a NAT): it only orders the
 * tries, and the tag decides.
 */
export class TenantKeyring<T extends Keyed> {
  private tenants: readonly T[] = [];
  private readonly last = new Map<string, T>();

  constructor(tenants: readonly T[] = []) {
    this.set(tenants);
  }

  /** Replaces the tenants (a reload): a removed tenant's packets stop authenticating at once. */
  set(tenants: readonly T[]): void {
    this.tenants = tenants;
    this.last.clear();
  }

  get size(): number {
    return this.tenants.length;
  }

  /** The tenant whose key authenticates `packet`, or undefined (malformed, or no tenant's). */
  find(packet: Uint8Array, fromHost: string): T | undefined {
    const signed = packet.length - TAG_LEN;
    if (signed < HEADER_LEN || packet[0] !== MAGIC[0] || packet[1] !== MAGIC[1]) return undefined;
    const known = this.last.get(fromHost);
    if (known && verifyTagAt(known.key, packet, signed)) return known;
    for (const t of this.tenants) {
      if (t === known || !verifyTagAt(t.key, packet, signed)) continue;
      this.remember(fromHost, t);
      return t;
    }
    return undefined;
  }

  private remember(host: string, t: T): void {
    this.last.delete(host);
    if (this.last.size >= MAX_REMEMBERED_SOURCES) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    this.last.set(host, t);
  }
}
