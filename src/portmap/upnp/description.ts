// The IGD's device description (UDA 1.1 section 2): which WAN connection service it has and where its
// control URL is, the second step of UPnP-IGD port mapping. Also the few XML helpers SOAP shares.
import type { PortMapEffects } from "../effects.ts";
import { httpWithin } from "./http.ts";

/** In order of preference. */
export const WAN_SERVICE_TYPES = [
  "urn:schemas-upnp-org:service:WANIPConnection:2",
  "urn:schemas-upnp-org:service:WANIPConnection:1",
  "urn:schemas-upnp-org:service:WANPPPConnection:1",
] as const;

export interface WanService {
  serviceType: string;
  controlUrl: string;
}

export const decodeXml = (s: string): string =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, "&");

export const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The text of the first <tag> element in `xml` (any namespace prefix), trimmed and entity-decoded. */
export function element(xml: string, tag: string): string | undefined {
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

/** GETs the device description; undefined on any failure. */
export function fetchDescription(
  fx: Pick<PortMapEffects, "clock" | "fetch">,
  url: string,
  deadline: number,
  signal?: AbortSignal,
): Promise<string | undefined> {
  return httpWithin(fx, url, {}, deadline, signal, (res) => (res.ok ? res.text() : undefined));
}
