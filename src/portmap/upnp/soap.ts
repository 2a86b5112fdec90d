// SOAP over HTTP (UDA 1.1 section 3.2): the control calls of UPnP-IGD port mapping, the third step.
import type { PortMapEffects } from "../effects.ts";
import { decodeXml, element, escapeXml, type WanService } from "./description.ts";
import { httpWithin } from "./http.ts";

export const UPNP_ERROR = {
  CONFLICT_IN_MAPPING_ENTRY: 718,
  ONLY_PERMANENT_LEASES_SUPPORTED: 725,
} as const;

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

/** One SOAP call; undefined on transport failures and unparsable answers. */
export function soapCall(
  fx: Pick<PortMapEffects, "clock" | "fetch">,
  service: WanService,
  action: string,
  args: readonly (readonly [string, string | number])[],
  deadline: number,
  signal?: AbortSignal,
): Promise<SoapResult | undefined> {
  const init: RequestInit = {
    method: "POST",
    headers: {
      "Content-Type": 'text/xml; charset="utf-8"',
      SOAPAction: `"${service.serviceType}#${action}"`,
    },
    body: encodeSoapRequest(service.serviceType, action, args),
  };
  // Not only 200: a fault comes with status 500 and its UPnPError in the body.
  return httpWithin(fx, service.controlUrl, init, deadline, signal, async (res) =>
    parseSoapResponse(await res.text(), action),
  );
}
