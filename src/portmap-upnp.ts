// UPnP-IGD port mapping (UPnP Device Architecture 1.1, IGD:1/IGD:2 WANIPConnection and WANPPPConnection),
// the third protocol mapPort() tries after PCP and NAT-PMP: many ISP routers offer only this one.
//
// 1. SSDP: an M-SEARCH to 239.255.255.250:1900 (at most 3 datagrams within the deadline); only answers whose
//    source address is the gateway count, and only a LOCATION on the gateway itself is fetched.
// 2. The device description at LOCATION names the WANIPConnection (or WANPPPConnection) control URL.
// 3. SOAP over HTTP: GetExternalIPAddress, AddPortMapping (external port = local port first, a few random
//    ones if it is taken: error 718; lease 0 if the gateway only does permanent mappings: error 725),
//    DeletePortMapping on removal.
// Everything is bounded by the caller's deadline and signal; failures resolve undefined, never throw.

import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import type { Grant } from "./portmap.ts";
import { openUdp } from "./transport/udp.ts";
import type { Endpoint } from "./types.ts";

export const SSDP_MULTICAST: Endpoint = { host: "239.255.255.250", port: 1900 };
export const IGD_SEARCH_TARGETS = [
  "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
  "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
  "ssdp:all",
] as const;
/** In order of preference. */
export const WAN_SERVICE_TYPES = [
  "urn:schemas-upnp-org:service:WANIPConnection:2",
  "urn:schemas-upnp-org:service:WANIPConnection:1",
  "urn:schemas-upnp-org:service:WANPPPConnection:1",
] as const;
export const UPNP_ERROR = {
  CONFLICT_IN_MAPPING_ENTRY: 718,
  ONLY_PERMANENT_LEASES_SUPPORTED: 725,
} as const;
/** M-SEARCH retransmissions: the first at once, then after 250 ms and 750 ms. */
const SSDP_SEND_AT_MS = [0, 250, 750] as const;
const RANDOM_PORT_TRIES = 3;
const DESCRIPTION = "netpunch";

// ---------------------------------------------------------------------------------------------------------
// SSDP

/** An SSDP M-SEARCH request (UDA 1.1 section 1.3.2). */
export function encodeMSearch(st: string, target: Endpoint = SSDP_MULTICAST, mx = 1): string {
  return [
    "M-SEARCH * HTTP/1.1",
    `HOST: ${target.host}:${target.port}`,
    'MAN: "ssdp:discover"',
    `MX: ${mx}`,
    `ST: ${st}`,
    "",
    "",
  ].join("\r\n");
}

export interface SsdpAnswer {
  location: string;
  st: string;
  usn: string;
  server: string;
}

/** Parses an M-SEARCH response (HTTP/1.1 200 with a LOCATION header); undefined for anything else. */
export function parseSsdpResponse(text: string): SsdpAnswer | undefined {
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/i.test(lines[0] ?? "")) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const location = headers.get("location");
  if (!location || !/^https?:\/\//i.test(location)) return undefined;
  return {
    location,
    st: headers.get("st") ?? "",
    usn: headers.get("usn") ?? "",
    server: headers.get("server") ?? "",
  };
}

/** Whether an answer is about an internet gateway (answers to ssdp:all also name media servers...). */
function isGatewayAnswer(a: SsdpAnswer): boolean {
  return /InternetGatewayDevice|WANIPConnection|WANPPPConnection|WANConnectionDevice|WANDevice/i.test(
    `${a.st} ${a.usn}`,
  );
}

const isLoopback = (ip: string): boolean => ip.startsWith("127.");

/**
 * Where M-SEARCH goes for this gateway: the SSDP multicast group, except for a loopback gateway (tests, a
 * daemon on this host), which multicast on the LAN could never reach: then unicast to its port 1900.
 */
export function ssdpTargetFor(gateway: string): Endpoint {
  return isLoopback(gateway) ? { host: gateway, port: SSDP_MULTICAST.port } : SSDP_MULTICAST;
}

/**
 * Sends M-SEARCH for the IGD (at most 3 datagrams) and resolves the LOCATION of the first gateway answer
 * whose source is `gateway`; undefined at the deadline, on abort, or when the target refuses (ICMP).
 */
export async function discoverIgd(
  gateway: string,
  deadline: number,
  signal?: AbortSignal,
  target: Endpoint = ssdpTargetFor(gateway),
): Promise<string | undefined> {
  if (signal?.aborted || Date.now() >= deadline) return undefined;
  return new Promise<string | undefined>((resolve) => {
    const timers: ReturnType<typeof setTimeout>[] = [];
    let done = false;
    let transport: Awaited<ReturnType<typeof openUdp>> | undefined;
    const finish = (value: string | undefined) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      signal?.removeEventListener("abort", onAbort);
      transport?.close();
      resolve(value);
    };
    const onAbort = () => finish(undefined);
    signal?.addEventListener("abort", onAbort, { once: true });
    timers.push(setTimeout(() => finish(undefined), Math.max(0, deadline - Date.now())));
    const decoder = new TextDecoder();
    openUdp(
      { host: "0.0.0.0", port: 0 },
      (data, from) => {
        if (from.host !== gateway) return; // safety: only the gateway may tell us where to send HTTP
        const answer = parseSsdpResponse(decoder.decode(data));
        if (!answer || !isGatewayAnswer(answer)) return;
        let host: string;
        try {
          host = new URL(answer.location).hostname;
        } catch {
          return;
        }
        if (host !== gateway) return;
        finish(answer.location);
      },
      (code) => {
        if (code === "ECONNREFUSED") finish(undefined);
      },
    ).then(
      (t) => {
        if (done) return t.close();
        transport = t;
        SSDP_SEND_AT_MS.forEach((at, i) => {
          const st = IGD_SEARCH_TARGETS[i] ?? IGD_SEARCH_TARGETS[0];
          const send = () => {
            if (!done) t.send(new TextEncoder().encode(encodeMSearch(st, target)), target);
          };
          if (at === 0) send();
          else timers.push(setTimeout(send, at));
        });
      },
      () => finish(undefined),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// Device description

export interface WanService {
  serviceType: string;
  controlUrl: string;
}

const decodeXml = (s: string): string =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, "&");

const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The text of the first <tag> element in `xml` (any namespace prefix), trimmed and entity-decoded. */
function element(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<(?:\\w+:)?${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:\\w+:)?${tag}\\s*>`, "i").exec(xml);
  return m ? decodeXml((m[1] ?? "").trim()) : undefined;
}

/**
 * Finds the preferred WAN connection service in a device description and resolves its controlURL
 * (against <URLBase> if there is one, else against the description's own URL); undefined if none.
 */
export function parseDeviceDescription(xml: string, location: string): WanService | undefined {
  const base = element(xml, "URLBase") || location;
  const found: WanService[] = [];
  for (const m of xml.matchAll(/<(?:\w+:)?service(?:\s[^>]*)?>([\s\S]*?)<\/(?:\w+:)?service\s*>/gi)) {
    const body = m[1] ?? "";
    const serviceType = element(body, "serviceType");
    const control = element(body, "controlURL");
    if (!serviceType || !control) continue;
    try {
      found.push({ serviceType, controlUrl: new URL(control, base).href });
    } catch {
      // an unparsable URL: not usable
    }
  }
  for (const type of WAN_SERVICE_TYPES) {
    const s = found.find((f) => f.serviceType === type);
    if (s) return s;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// SOAP

/** A SOAP 1.1 request envelope for `action` of `serviceType` (UDA 1.1 section 3.2.1). */
export function encodeSoapRequest(
  serviceType: string,
  action: string,
  args: readonly (readonly [string, string | number])[],
): string {
  const params = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join("");
  return (
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${params}</u:${action}></s:Body>` +
    "</s:Envelope>\r\n"
  );
}

export type SoapResult =
  | { kind: "ok"; values: Record<string, string> }
  | { kind: "error"; errorCode: number; description: string };

/**
 * Parses a SOAP response: the out-arguments of <u:ActionResponse>, or the <UPnPError> of a fault; undefined
 * when it is neither.
 */
export function parseSoapResponse(xml: string, action: string): SoapResult | undefined {
  const code = element(xml, "errorCode");
  if (code !== undefined && /^\d+$/.test(code))
    return { kind: "error", errorCode: Number(code), description: element(xml, "errorDescription") ?? "" };
  const body = element(xml, `${action}Response`);
  if (body === undefined) {
    // An empty response element: <u:DeletePortMappingResponse .../>.
    if (new RegExp(`<(?:\\w+:)?${action}Response(?:\\s[^>]*)?/>`, "i").test(xml))
      return { kind: "ok", values: {} };
    return undefined;
  }
  const values: Record<string, string> = {};
  for (const m of body.matchAll(/<(?:\w+:)?(\w+)(?:\s[^>]*)?>([^<]*)<\/(?:\w+:)?\1\s*>/g))
    values[m[1] ?? ""] = decodeXml((m[2] ?? "").trim());
  for (const m of body.matchAll(/<(?:\w+:)?(\w+)(?:\s[^>]*)?\/>/g)) values[m[1] ?? ""] ??= "";
  return { kind: "ok", values };
}

function boundedSignal(deadline: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** GETs the device description; undefined on any failure. */
async function fetchText(url: string, deadline: number, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: boundedSignal(deadline, signal), redirect: "error" });
    if (!res.ok) return undefined;
    return await res.text();
  } catch {
    return undefined;
  }
}

/** One SOAP call; undefined on transport failures and unparsable answers. */
export async function soapCall(
  service: WanService,
  action: string,
  args: readonly (readonly [string, string | number])[],
  deadline: number,
  signal?: AbortSignal,
): Promise<SoapResult | undefined> {
  if (signal?.aborted || Date.now() >= deadline) return undefined;
  try {
    const res = await fetch(service.controlUrl, {
      method: "POST",
      headers: {
        "Content-Type": 'text/xml; charset="utf-8"',
        SOAPAction: `"${service.serviceType}#${action}"`,
      },
      body: encodeSoapRequest(service.serviceType, action, args),
      signal: boundedSignal(deadline, signal),
      redirect: "error",
    });
    return parseSoapResponse(await res.text(), action);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// This host's address on the gateway's subnet

const ipToInt = (ip: string): number => ip.split(".").reduce((acc, b) => ((acc << 8) | Number(b)) >>> 0, 0);

type Interfaces = ReturnType<typeof networkInterfaces>;

/** This host's IPv4 address in the same subnet as `gateway` (address and netmask from the interfaces). */
export function localAddressFor(
  gateway: string,
  interfaces: Interfaces = networkInterfaces(),
): string | undefined {
  if (!isIPv4(gateway)) return undefined;
  const gw = ipToInt(gateway);
  for (const addrs of Object.values(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4" || !isIPv4(a.netmask)) continue;
      const mask = ipToInt(a.netmask);
      if (mask !== 0 && ((ipToInt(a.address) ^ gw) & mask) >>> 0 === 0) return a.address;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The protocol run

export interface UpnpMapOptions {
  localPort: number;
  gateway: string;
  ttl: number;
  deadline: number;
  signal?: AbortSignal;
  /** Where M-SEARCH goes (tests); default ssdpTargetFor(gateway). */
  ssdpTarget?: Endpoint;
  /** NewInternalClient; default this host's address in the gateway's subnet. */
  internalClient?: string;
  /** External ports to try after localPort (tests); default a few random ones >= 1024. */
  alternatePorts?: readonly number[];
}

/** A UPnP mapping, in portmap.ts's Grant shape: what track() needs to renew and delete it. */
export type UpnpGrant = Grant & { protocol: "upnp" };

const randomPort = (): number => 1024 + Math.floor(Math.random() * (65536 - 1024));

/** Maps UDP `localPort` with UPnP-IGD; undefined when there is no IGD, it refuses, or time runs out. */
export async function mapPortUpnp(opts: UpnpMapOptions): Promise<UpnpGrant | undefined> {
  const { localPort, gateway, ttl, deadline, signal } = opts;
  const client = opts.internalClient ?? localAddressFor(gateway);
  if (!client) return undefined;
  const location = await discoverIgd(gateway, deadline, signal, opts.ssdpTarget ?? ssdpTargetFor(gateway));
  if (!location) return undefined;
  const xml = await fetchText(location, deadline, signal);
  if (xml === undefined) return undefined;
  const service = parseDeviceDescription(xml, location);
  // Safety: SOAP only to the gateway itself, whatever the description says.
  if (!service || new URL(service.controlUrl).hostname !== gateway) return undefined;

  const ipReply = await soapCall(service, "GetExternalIPAddress", [], deadline, signal);
  const host = ipReply?.kind === "ok" ? ipReply.values.NewExternalIPAddress : undefined;
  if (!host || !isIPv4(host) || host === "0.0.0.0") return undefined;

  let lease = ttl;
  const add = (port: number, dl: number, sig?: AbortSignal) =>
    soapCall(
      service,
      "AddPortMapping",
      [
        ["NewRemoteHost", ""],
        ["NewExternalPort", port],
        ["NewProtocol", "UDP"],
        ["NewInternalPort", localPort],
        ["NewInternalClient", client],
        ["NewEnabled", 1],
        ["NewPortMappingDescription", DESCRIPTION],
        ["NewLeaseDuration", lease],
      ],
      dl,
      sig,
    );
  /** AddPortMapping, again with lease 0 if the gateway does only permanent mappings. */
  const addWithLease = async (port: number, dl: number, sig?: AbortSignal) => {
    let r = await add(port, dl, sig);
    if (r?.kind === "error" && r.errorCode === UPNP_ERROR.ONLY_PERMANENT_LEASES_SUPPORTED && lease !== 0) {
      lease = 0;
      r = await add(port, dl, sig);
    }
    return r;
  };

  const ports = [
    localPort,
    ...(opts.alternatePorts ?? Array.from({ length: RANDOM_PORT_TRIES }, randomPort)),
  ];
  let externalPort: number | undefined;
  for (const port of ports) {
    const r = await addWithLease(port, deadline, signal);
    if (r?.kind === "ok") {
      externalPort = port;
      break;
    }
    if (r?.kind !== "error" || r.errorCode !== UPNP_ERROR.CONFLICT_IN_MAPPING_ENTRY) return undefined;
  }
  if (externalPort === undefined) return undefined;

  const grant: UpnpGrant = {
    protocol: "upnp",
    external: { host, port: externalPort },
    // A permanent mapping (lease 0) is reported with the requested ttl: renewed at half of it, which also
    // re-creates it after a gateway reboot, and deleted on removal like any other.
    lifetime: lease === 0 ? ttl : lease,
    async request(lifetime, timeoutMs, sig) {
      const dl = Date.now() + timeoutMs;
      if (lifetime === 0) {
        const r = await soapCall(
          service,
          "DeletePortMapping",
          [
            ["NewRemoteHost", ""],
            ["NewExternalPort", grant.external.port],
            ["NewProtocol", "UDP"],
          ],
          dl,
          sig,
        );
        return r?.kind === "ok" ? { external: grant.external, lifetime: 0 } : undefined;
      }
      const r = await addWithLease(grant.external.port, dl, sig);
      return r?.kind === "ok" ? { external: grant.external, lifetime: lease === 0 ? ttl : lease } : undefined;
    },
  };
  if (signal?.aborted) {
    void grant.request(0, 5000);
    return undefined;
  }
  return grant;
}
