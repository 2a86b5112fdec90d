// serve --store: the rendezvous state in this process (memory) or in Redis, shared by several servers.
import { readFileSync } from "node:fs";
import type { ConsolaInstance } from "consola";
import * as v from "valibot";
import { RedisLink } from "../rendezvous/redis-link.ts";
import { RedisStore } from "../rendezvous/redis-store.ts";
import { RedisRelayDirectory } from "../rendezvous/relay-directory.ts";
import { RedisBus } from "../rendezvous/server-bus.ts";
import { RedisNonces } from "../rendezvous/shared-nonces.ts";
import { CliFail } from "./hints.ts";
import { readPem } from "./pem.ts";

export const storeArgs = {
  store: {
    type: "string",
    valueHint: "memory|URL",
    default: "memory",
    description:
      "where sessions live: memory, or a Redis that several servers share: redis://[USER@]HOST:PORT/DB (rediss:// for TLS)",
  },
  "store-password-file": {
    type: "string",
    valueHint: "FILE",
    description: "read the Redis password from FILE instead of the URL (preferred: the URL is visible in ps)",
  },
  "store-ca": {
    type: "string",
    valueHint: "FILE",
    description:
      "with a rediss:// --store: trust this CA (PEM) for Redis's certificate instead of the system's; the certificate must name the URL's host",
  },
} as const;

/** The Redis databases of a default configuration (`databases 16`); more are a server setting. */
const MAX_DB = 15;
const DEFAULT_PORT = 6379;

export type StoreChoice =
  | { kind: "memory" }
  | {
      kind: "redis";
      /** The URL the client connects with, password included: never logged. */
      url: string;
      /** The same with the password as "***": what logs and errors show. */
      where: string;
      tls: boolean;
      /** PEM text of the CA to trust for rediss:// (--store-ca). */
      ca?: string;
    };

/**
 * `--store`, `--store-password-file` and `--store-ca`, checked; a usage error naming the flag otherwise. Pure
 * but for the files.
 */
export function parseStore(text: string, passwordFile?: string, caFile?: string): StoreChoice {
  if (text === "memory") {
    if (passwordFile !== undefined)
      throw CliFail.badStore(text, "--store-password-file needs a redis:// store");
    if (caFile !== undefined) throw CliFail.badStore(text, "--store-ca needs a rediss:// store");
    return { kind: "memory" };
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw CliFail.badStore(redactText(text), "it is neither memory nor a redis:// or rediss:// URL");
  }
  const where = () => redact(u);
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw CliFail.badStore(where(), `the scheme is ${u.protocol.replace(/:$/, "")}, not redis or rediss`);
  if (!u.hostname) throw CliFail.badStore(where(), "it names no host");
  if (u.search || u.hash) throw CliFail.badStore(where(), "options after ? or # are not taken");
  const db = u.pathname.replace(/^\//, "");
  if (db !== "" && (!/^\d{1,2}$/.test(db) || Number(db) > MAX_DB))
    throw CliFail.badStore(where(), `the database is "${db}", not a number from 0 to ${MAX_DB}`);
  if (passwordFile !== undefined) {
    if (u.password)
      throw CliFail.badStore(where(), "the password is given twice (URL and --store-password-file)");
    u.password = encodeURIComponent(readPassword(passwordFile));
  }
  const tls = u.protocol === "rediss:";
  // Bun's client would turn TLS on for a redis:// URL given a CA: a CA without rediss:// is a mistake.
  if (caFile !== undefined && !tls)
    throw CliFail.badStore(where(), "--store-ca is for a rediss:// (TLS) store; this one is plain redis://");
  const ca = caFile !== undefined ? readCa(caFile) : undefined;
  if (!u.port) u.port = String(DEFAULT_PORT);
  u.pathname = `/${db || "0"}`;
  return { kind: "redis", url: u.toString(), where: redact(u), tls, ...(ca !== undefined ? { ca } : {}) };
}

/** A PEM certificate (or several): the text the client is given, read and checked for its marker. */
const PemCertificate = v.pipe(v.string(), v.includes("-----BEGIN CERTIFICATE-----"));

function readCa(file: string): string {
  const text = readPem("store-ca", file);
  if (!v.is(PemCertificate, text)) throw CliFail.notPemCertificate("store-ca", file);
  return text;
}

function readPassword(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw CliFail.unreadablePasswordFile(file, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  const password = text.replace(/\r?\n$/, "");
  if (!password) throw CliFail.unreadablePasswordFile(file, "it is empty");
  return password;
}

/** The URL with its password replaced by *** (the user name stays: it is not a secret). */
function redact(u: URL): string {
  const c = new URL(u.toString());
  if (c.password) c.password = "***";
  return c.toString();
}

/** A text that is not a URL may still hold a password after a colon before an @: hide all of it but the host. */
const redactText = (text: string): string => text.replace(/\/\/[^@/]*@/, "//***@");

/** What serve() is given for a shared store, and the link the CLI closes and reads statistics from. */
export interface SharedStore {
  store: RedisStore;
  bus: RedisBus;
  nonces: RedisNonces;
  /** Where each pair's one relay is (which server opened it). */
  relays: RedisRelayDirectory;
  link: RedisLink;
  /** A tenant's store (serve --secrets-file): on the same Redis, under a prefix of its own. */
  tenantStore(name: string): RedisStore;
}

/**
 * Tenant NAME's keys: under the default prefix's hash tag (one Redis Cluster slot, as the scripts need), then
 * `tenant:NAME:`, which no key of the one-secret store starts with. Tenant names have no `:` (TENANT_NAME).
 */
export const tenantPrefix = (name: string): string => `{netpunch}:tenant:${name}:`;

/**
 * The shared store's parts for the chosen Redis, not yet connected (connectStore does); undefined for
 * memory. An outage later is logged once when it starts and once when it ends, with the redacted URL.
 */
export function sharedStore(choice: StoreChoice, logger: ConsolaInstance): SharedStore | undefined {
  if (choice.kind === "memory") return undefined;
  const link = new RedisLink({
    url: choice.url,
    where: choice.where,
    ...(choice.ca !== undefined ? { ca: choice.ca } : {}),
    onState: (up, why) =>
      up
        ? logger.info(`store ${choice.where} is back: sessions are shared again`)
        : logger.warn(
            `store ${choice.where} is down (${why}): registrations are refused until it is back; retrying every second`,
          ),
  });
  return {
    store: new RedisStore(link),
    bus: new RedisBus(link),
    nonces: new RedisNonces(link),
    relays: new RedisRelayDirectory(link),
    link,
    tenantStore: (name) => new RedisStore(link, { prefix: tenantPrefix(name) }),
  };
}

/** Connects the shared store: E_STORE (exit 1), naming the redacted URL, when Redis cannot be reached now. */
export async function connectStore(
  shared: SharedStore,
  choice: StoreChoice,
  logger: ConsolaInstance,
): Promise<void> {
  await shared.link.connect();
  if (choice.kind === "redis") logger.info(`sessions in the shared store ${choice.where}`);
}
