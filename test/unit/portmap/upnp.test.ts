// UPnP-IGD port mapping: SSDP, device description and SOAP parsing, and mapPortUpnp() against a fake
// gateway on loopback only (an SSDP responder on a loopback UDP port, Bun.serve on 127.0.0.1): no multicast
// and no HTTP ever leave this host.
import { afterEach, describe, expect, test } from "bun:test";
import type { networkInterfaces } from "node:os";
import { mapPort } from "../../../src/portmap/index.ts";
import { parseDeviceDescription } from "../../../src/portmap/upnp/description.ts";
import { localAddressFor, mapPortUpnp } from "../../../src/portmap/upnp/igd.ts";
import { encodeSoapRequest, parseSoapResponse } from "../../../src/portmap/upnp/soap.ts";
import {
  discoverIgd,
  encodeMSearch,
  IGD_SEARCH_TARGETS,
  parseSsdpResponse,
  SSDP_MULTICAST,
  ssdpTargetFor,
} from "../../../src/portmap/upnp/ssdp.ts";

const GW = "127.0.0.1";
const WANIP1 = "urn:schemas-upnp-org:service:WANIPConnection:1";
const WANIP2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
const WANPPP1 = "urn:schemas-upnp-org:service:WANPPPConnection:1";

/** A description shaped like miniupnpd's: IGD > WANDevice > WANConnectionDevice > WANIPConnection. */
function description(services: { type: string; control: string }[], urlBase?: string): string {
  const svc = services
    .map(
      (s) =>
        `<service><serviceType>${s.type}</serviceType><serviceId>urn:upnp-org:serviceId:x</serviceId>` +
        `<controlURL>${s.control}</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service>`,
    )
    .join("");
  return (
    `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">` +
    `<specVersion><major>1</major><minor>1</minor></specVersion>${urlBase ? `<URLBase>${urlBase}</URLBase>` : ""}` +
    `<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>` +
    `<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>` +
    `<controlURL>/ctl/L3F</controlURL></service></serviceList>` +
    `<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>` +
    `<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>` +
    `<serviceList>${svc}</serviceList></device></deviceList></device></deviceList></device></root>`
  );
}

function soapOk(action: string, serviceType: string, values: Record<string, string> = {}): string {
  const body = Object.entries(values)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join("");
  return (
    `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ` +
    `s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>` +
    `<u:${action}Response xmlns:u="${serviceType}">${body}</u:${action}Response></s:Body></s:Envelope>`
  );
}

function soapFault(code: number, description: string): string {
  return (
    `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ` +
    `s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>` +
    `<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>` +
    `<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode>` +
    `<errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`
  );
}

describe("SSDP", () => {
  test("M-SEARCH names the multicast host, MAN, MX and ST, and ends with an empty line", () => {
    const text = encodeMSearch(IGD_SEARCH_TARGETS[0]);
    expect(text).toBe(
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n' +
        "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n",
    );
    expect(encodeMSearch("ssdp:all", { host: "127.0.0.1", port: 1234 }, 2)).toContain(
      "HOST: 127.0.0.1:1234\r\n",
    );
  });

  test("parses an answer, headers case-insensitively", () => {
    const answer =
      "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
      "USN: uuid:6f1e::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\n" +
      "SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.3\r\nlocation: http://192.0.2.1:5000/rootDesc.xml\r\n\r\n";
    expect(parseSsdpResponse(answer)).toEqual({
      location: "http://192.0.2.1:5000/rootDesc.xml",
      st: "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
      usn: "uuid:6f1e::urn:schemas-upnp-org:device:InternetGatewayDevice:1",
      server: "Debian/12 UPnP/1.1 MiniUPnPd/2.3.3",
    });
  });

  test("not an answer: a NOTIFY, an M-SEARCH, an error status, no or a non-HTTP LOCATION", () => {
    expect(parseSsdpResponse("NOTIFY * HTTP/1.1\r\nLOCATION: http://a/\r\n\r\n")).toBeUndefined();
    expect(parseSsdpResponse(encodeMSearch("ssdp:all"))).toBeUndefined();
    expect(parseSsdpResponse("HTTP/1.1 404 Not Found\r\nLOCATION: http://a/\r\n\r\n")).toBeUndefined();
    expect(parseSsdpResponse("HTTP/1.1 200 OK\r\nST: x\r\n\r\n")).toBeUndefined();
    expect(parseSsdpResponse("HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n")).toBeUndefined();
    expect(parseSsdpResponse("")).toBeUndefined();
  });

  test("multicast for a LAN gateway, unicast port 1900 for a loopback one", () => {
    expect(ssdpTargetFor("198.18.1.1")).toEqual(SSDP_MULTICAST);
    expect(ssdpTargetFor("127.0.0.1")).toEqual({ host: "127.0.0.1", port: 1900 });
  });
});

describe("parseDeviceDescription", () => {
  const LOC = "http://192.0.2.1:5000/rootDesc.xml";

  test("finds WANIPConnection:1 in the nested devices and resolves its relative controlURL", () => {
    const xml = description([{ type: WANIP1, control: "/ctl/IPConn" }]);
    expect(parseDeviceDescription(xml, LOC)).toEqual({
      serviceType: WANIP1,
      controlUrl: "http://192.0.2.1:5000/ctl/IPConn",
    });
  });

  test("prefers WANIPConnection:2, then :1, then WANPPPConnection:1", () => {
    const all = [
      { type: WANPPP1, control: "/ppp" },
      { type: WANIP1, control: "/ip1" },
      { type: WANIP2, control: "/ip2" },
    ];
    expect(parseDeviceDescription(description(all), LOC)?.serviceType).toBe(WANIP2);
    expect(parseDeviceDescription(description(all.slice(0, 2)), LOC)?.serviceType).toBe(WANIP1);
    expect(parseDeviceDescription(description(all.slice(0, 1)), LOC)).toEqual({
      serviceType: WANPPP1,
      controlUrl: "http://192.0.2.1:5000/ppp",
    });
  });

  test("URLBase, absolute control URLs, and whitespace around values", () => {
    const xml = description([{ type: ` ${WANIP1}\n`, control: " ctl/x " }], "http://192.0.2.1:49152/");
    expect(parseDeviceDescription(xml, LOC)?.controlUrl).toBe("http://192.0.2.1:49152/ctl/x");
    const abs = description([{ type: WANIP1, control: "http://192.0.2.1:80/c?a=1&amp;b=2" }]);
    expect(parseDeviceDescription(abs, LOC)?.controlUrl).toBe("http://192.0.2.1/c?a=1&b=2");
  });

  test("no WAN connection service: undefined", () => {
    expect(parseDeviceDescription(description([]), LOC)).toBeUndefined();
    expect(parseDeviceDescription("not xml", LOC)).toBeUndefined();
  });
});

describe("SOAP", () => {
  test("a request envelope with the action in the service's namespace, values escaped", () => {
    const xml = encodeSoapRequest(WANIP1, "AddPortMapping", [
      ["NewRemoteHost", ""],
      ["NewExternalPort", 10000],
      ["NewPortMappingDescription", "a<b&c"],
    ]);
    expect(xml).toContain('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"');
    expect(xml).toContain(
      `<s:Body><u:AddPortMapping xmlns:u="${WANIP1}"><NewRemoteHost></NewRemoteHost>` +
        "<NewExternalPort>10000</NewExternalPort><NewPortMappingDescription>a&lt;b&amp;c" +
        "</NewPortMappingDescription></u:AddPortMapping></s:Body>",
    );
  });

  test("parses out-arguments, empty responses, and UPnP errors", () => {
    expect(
      parseSoapResponse(
        soapOk("GetExternalIPAddress", WANIP1, { NewExternalIPAddress: "198.18.1.2" }),
        "GetExternalIPAddress",
      ),
    ).toEqual({ kind: "ok", values: { NewExternalIPAddress: "198.18.1.2" } });
    expect(parseSoapResponse(soapOk("AddPortMapping", WANIP1), "AddPortMapping")).toEqual({
      kind: "ok",
      values: {},
    });
    const selfClosing = `<s:Envelope><s:Body><u:DeletePortMappingResponse xmlns:u="${WANIP1}"/></s:Body></s:Envelope>`;
    expect(parseSoapResponse(selfClosing, "DeletePortMapping")).toEqual({ kind: "ok", values: {} });
    expect(parseSoapResponse(soapFault(718, "ConflictInMappingEntry"), "AddPortMapping")).toEqual({
      kind: "error",
      errorCode: 718,
      description: "ConflictInMappingEntry",
    });
  });

  test("neither a response to this action nor an error: undefined", () => {
    expect(parseSoapResponse(soapOk("GetExternalIPAddress", WANIP1), "AddPortMapping")).toBeUndefined();
    expect(parseSoapResponse("<html>Login</html>", "AddPortMapping")).toBeUndefined();
  });
});

describe("localAddressFor", () => {
  const ifaces = {
    lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", internal: true }],
    eth0: [
      { address: "fe80::1", netmask: "ffff:ffff:ffff:ffff::", family: "IPv6", internal: false },
      { address: "192.0.2.10", netmask: "255.255.255.0", family: "IPv4", internal: false },
    ],
    wlan0: [{ address: "198.19.2.3", netmask: "255.255.0.0", family: "IPv4", internal: false }],
  } as unknown as ReturnType<typeof networkInterfaces>;

  test("the address in the gateway's subnet", () => {
    expect(localAddressFor("192.0.2.1", ifaces)).toBe("192.0.2.10");
    expect(localAddressFor("198.19.200.1", ifaces)).toBe("198.19.2.3");
    expect(localAddressFor("127.0.0.1", ifaces)).toBe("127.0.0.1");
  });

  test("no interface in that subnet, or not IPv4: undefined", () => {
    expect(localAddressFor("198.51.100.1", ifaces)).toBeUndefined();
    expect(localAddressFor("2001:db8::1", ifaces)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
// A fake IGD on loopback

interface SoapRequest {
  action: string;
  soapAction: string;
  args: Record<string, string>;
}

interface FakeIgd {
  ssdpPort: number;
  httpPort: number;
  searches: string[];
  soap: SoapRequest[];
  close(): void;
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** One argument of every AddPortMapping the fake gateway was sent, in order. */
const addedArgs = (fake: FakeIgd, arg: string): (string | undefined)[] =>
  fake.soap.filter((r) => r.action === "AddPortMapping").map((r) => r.args[arg]);

/** An onSoap that answers AddPortMapping with the fault `code` (unless `spare` says to let that one through). */
const faultOnAdd =
  (code: number, text: string, spare: (req: SoapRequest) => boolean = () => false) =>
  (r: SoapRequest): string | undefined =>
    r.action === "AddPortMapping" && !spare(r) ? soapFault(code, text) : undefined;

/**
 * An SSDP responder on `ssdpHost` (answers each M-SEARCH from `answerFrom`, default the same socket) and
 * an HTTP server on 127.0.0.1 serving the description and answering SOAP with `onSoap`.
 */
async function fakeIgd(
  opts: {
    onSoap?: (req: SoapRequest) => string | undefined;
    answer?: boolean;
    answerFrom?: string;
    location?: (httpPort: number) => string;
    services?: { type: string; control: string }[];
  } = {},
): Promise<FakeIgd> {
  const searches: string[] = [];
  const soap: SoapRequest[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname === "/rootDesc.xml")
        return new Response(description(opts.services ?? [{ type: WANIP1, control: "/ctl/IPConn" }]), {
          headers: { "content-type": "text/xml" },
        });
      if (req.method === "POST" && url.pathname === "/ctl/IPConn") {
        const body = await req.text();
        const action = /<u:(\w+) /.exec(body)?.[1] ?? "";
        const args: Record<string, string> = {};
        for (const m of body.matchAll(/<(New\w+)>([^<]*)<\/\1>/g)) args[m[1] ?? ""] = m[2] ?? "";
        const r: SoapRequest = { action, soapAction: req.headers.get("soapaction") ?? "", args };
        soap.push(r);
        const reply = opts.onSoap?.(r) ?? defaultSoap(r);
        const status = reply.includes("<s:Fault>") ? 500 : 200;
        return new Response(reply, { status, headers: { "content-type": 'text/xml; charset="utf-8"' } });
      }
      return new Response("not found", { status: 404 });
    },
  });
  const httpPort = server.port ?? 0;
  const location = opts.location?.(httpPort) ?? `http://127.0.0.1:${httpPort}/rootDesc.xml`;
  const answerText = (st: string) =>
    `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: ${st}\r\nUSN: uuid:1::${st}\r\nEXT:\r\n` +
    `SERVER: fake UPnP/1.1\r\nLOCATION: ${location}\r\n\r\n`;
  const other = opts.answerFrom
    ? await Bun.udpSocket({ hostname: opts.answerFrom, port: 0, socket: { data() {} } })
    : undefined;
  const ssdp = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d, port, addr) {
        const text = d.toString();
        searches.push(text);
        if (opts.answer === false) return;
        const st = /^ST: (.*)$/m.exec(text)?.[1]?.trim() ?? "";
        const igd = st === "ssdp:all" ? "urn:schemas-upnp-org:device:InternetGatewayDevice:1" : st;
        (other ?? s).send(answerText(igd), port, addr);
      },
    },
  });
  const close = () => {
    ssdp.close();
    other?.close();
    server.stop(true);
  };
  closers.push(close);
  return { ssdpPort: ssdp.port, httpPort, searches, soap, close };
}

function defaultSoap(r: SoapRequest): string {
  if (r.action === "GetExternalIPAddress")
    return soapOk(r.action, WANIP1, { NewExternalIPAddress: "198.18.1.2" });
  return soapOk(r.action, WANIP1);
}

const base = (fake: FakeIgd, timeoutMs = 3000) => ({
  localPort: 10000,
  gateway: GW,
  ttl: 600,
  deadline: Date.now() + timeoutMs,
  ssdpTarget: { host: GW, port: fake.ssdpPort },
});

describe("mapPortUpnp against a fake IGD on loopback", () => {
  test("discovers, asks the external address, maps, and deletes on request(0)", async () => {
    const fake = await fakeIgd();
    const grant = await mapPortUpnp(base(fake));
    expect(grant?.protocol).toBe("upnp");
    expect(grant?.external).toEqual({ host: "198.18.1.2", port: 10000 });
    expect(grant?.lifetime).toBe(600);
    expect(fake.searches[0]).toBe(encodeMSearch(IGD_SEARCH_TARGETS[0], { host: GW, port: fake.ssdpPort }));
    expect(fake.soap.map((r) => r.action)).toEqual(["GetExternalIPAddress", "AddPortMapping"]);
    expect(fake.soap[1]?.soapAction).toBe(`"${WANIP1}#AddPortMapping"`);
    expect(fake.soap[1]?.args).toEqual({
      NewRemoteHost: "",
      NewExternalPort: "10000",
      NewProtocol: "UDP",
      NewInternalPort: "10000",
      NewInternalClient: "127.0.0.1",
      NewEnabled: "1",
      NewPortMappingDescription: "netpunch",
      NewLeaseDuration: "600",
    });

    expect(await grant?.request(600, 2000)).toEqual({
      external: { host: "198.18.1.2", port: 10000 },
      lifetime: 600,
    });
    expect(fake.soap[2]?.action).toBe("AddPortMapping");
    expect(await grant?.request(0, 2000)).toEqual({
      external: { host: "198.18.1.2", port: 10000 },
      lifetime: 0,
    });
    expect(fake.soap[3]).toEqual({
      action: "DeletePortMapping",
      soapAction: `"${WANIP1}#DeletePortMapping"`,
      args: { NewRemoteHost: "", NewExternalPort: "10000", NewProtocol: "UDP" },
    });
  });

  test("error 718 (port taken): tries the next ports", async () => {
    const fake = await fakeIgd({
      onSoap: faultOnAdd(718, "ConflictInMappingEntry", (r) => r.args.NewExternalPort === "40002"),
    });
    const grant = await mapPortUpnp({ ...base(fake), alternatePorts: [40001, 40002, 40003] });
    expect(grant?.external).toEqual({ host: "198.18.1.2", port: 40002 });
    expect(addedArgs(fake, "NewExternalPort")).toEqual(["10000", "40001", "40002"]);
  });

  test("error 718 on every port, default alternates: random ports >= 1024, then undefined", async () => {
    const fake = await fakeIgd({ onSoap: faultOnAdd(718, "ConflictInMappingEntry") });
    expect(await mapPortUpnp(base(fake))).toBeUndefined();
    const tried = addedArgs(fake, "NewExternalPort").map(Number);
    expect(tried).toHaveLength(4);
    expect(tried[0]).toBe(10000);
    for (const p of tried) expect(p >= 1024 && p <= 65535).toBe(true);
  });

  test("error 725 (only permanent leases): retried with lease 0, reported with the requested ttl", async () => {
    const fake = await fakeIgd({
      onSoap: faultOnAdd(725, "OnlyPermanentLeasesSupported", (r) => r.args.NewLeaseDuration === "0"),
    });
    const grant = await mapPortUpnp(base(fake));
    expect(grant?.external.port).toBe(10000);
    expect(grant?.lifetime).toBe(600);
    expect(addedArgs(fake, "NewLeaseDuration")).toEqual(["600", "0"]);
  });

  test("another error (e.g. 606 not authorized): undefined, no retries", async () => {
    const fake = await fakeIgd({ onSoap: faultOnAdd(606, "Action not authorized") });
    expect(await mapPortUpnp(base(fake))).toBeUndefined();
    expect(addedArgs(fake, "NewExternalPort")).toHaveLength(1);
  });

  test("no external address (empty or 0.0.0.0): undefined, nothing mapped", async () => {
    for (const ip of ["", "0.0.0.0"]) {
      const fake = await fakeIgd({
        onSoap: (r) =>
          r.action === "GetExternalIPAddress"
            ? soapOk(r.action, WANIP1, { NewExternalIPAddress: ip })
            : undefined,
      });
      expect(await mapPortUpnp(base(fake))).toBeUndefined();
      expect(fake.soap.map((r) => r.action)).toEqual(["GetExternalIPAddress"]);
    }
  });

  test("WANPPPConnection only: found and used", async () => {
    const fake = await fakeIgd({ services: [{ type: WANPPP1, control: "/ctl/IPConn" }] });
    const grant = await mapPortUpnp(base(fake));
    expect(grant?.external.port).toBe(10000);
    expect(fake.soap[1]?.soapAction).toBe(`"${WANPPP1}#AddPortMapping"`);
  });

  test("no answer: undefined at the deadline, after at most 3 M-SEARCHes (IGD:1, IGD:2, ssdp:all)", async () => {
    const fake = await fakeIgd({ answer: false });
    expect(await mapPortUpnp(base(fake, 1200))).toBeUndefined();
    expect(fake.searches.map((s) => /^ST: (.*)\r$/m.exec(s)?.[1])).toEqual([...IGD_SEARCH_TARGETS]);
    expect(fake.soap).toEqual([]);
  });

  test("an answer from another address than the gateway is ignored", async () => {
    const fake = await fakeIgd({ answerFrom: "127.0.0.2" });
    expect(
      await discoverIgd(GW, Date.now() + 800, undefined, { host: GW, port: fake.ssdpPort }),
    ).toBeUndefined();
    expect(fake.searches.length).toBeGreaterThan(0);
  });

  test("a LOCATION on another host than the gateway is not fetched", async () => {
    const fake = await fakeIgd({ location: (p) => `http://127.0.0.2:${p}/rootDesc.xml` });
    expect(await mapPortUpnp(base(fake, 800))).toBeUndefined();
    expect(fake.soap).toEqual([]);
  });

  test("nothing listening on the SSDP port (ICMP): undefined", async () => {
    const fake = await fakeIgd();
    const port = fake.ssdpPort;
    fake.close();
    expect(await mapPortUpnp({ ...base(fake), ssdpTarget: { host: GW, port } })).toBeUndefined();
  });

  test("aborting gives up", async () => {
    const fake = await fakeIgd({ answer: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect(await mapPortUpnp({ ...base(fake, 30_000), signal: ac.signal })).toBeUndefined();
    ac.abort();
    expect(await mapPortUpnp({ ...base(fake), signal: ac.signal })).toBeUndefined();
  });

  test("mapPort accepts 'upnp' and resolves undefined when no IGD answers on loopback", async () => {
    // gateway 127.0.0.1: SSDP goes unicast to 127.0.0.1:1900, never to the multicast group.
    expect(
      await mapPort({ localPort: 10000, gateway: GW, protocols: ["upnp"], timeoutMs: 300 }),
    ).toBeUndefined();
  });
});
