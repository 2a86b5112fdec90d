#!/usr/bin/env python3
"""An off-path / on-path attacker for the NAT lab: sniff, inject with a forged source, replay and listen.

The attacker never knows the shared secret: it only captures whole UDP datagrams and sends them again. Run it
inside a lab namespace (it refuses to run anywhere else); every loop is bounded by a count and a time.

  attacker.py sniff MAX_COUNT TIMEOUT_MS [--src IP] [--dst IP] [--sport N] [--dport N] [--np-type N]
      AF_PACKET capture on every interface of the namespace. Prints "ready", then one JSON line per
      received IPv4/UDP packet that passes the filters ({"src","sport","dst","dport","payload"(hex)}).
      Outgoing copies are skipped, so a packet forwarded by a router is printed once.
      --np-type keeps only netpunch packets ("NP" magic) whose type byte (offset 3) is N.
  attacker.py inject SRC_IP:PORT DST_IP:PORT HEX COUNT INTERVAL_MS
      Sends the payload COUNT times from a forged source address (raw socket, IPv4 + UDP header by hand).
  attacker.py replay LOCAL_PORT DST_IP:PORT HEX COUNT INTERVAL_MS LISTEN_MS MAX_COUNT
      From this host's own address: sends the payload COUNT times, then prints "sent", and one JSON line
      per datagram received on the socket until LISTEN_MS have passed or MAX_COUNT arrived.

Only lab addresses (198.18.0.0/15, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 127.0.0.0/8) are
accepted as a source or destination. Stdlib only.
"""

import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
ARPHRD_ETHER = 1
ARPHRD_NONE = 0xFFFE  # TUN devices (the delay links): no link-layer header
MAX_COUNT = 100_000
MAX_TIME_MS = 120_000
LAB_NETS = [
    ipaddress.ip_network(n)
    for n in ("198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "127.0.0.0/8")
]


def fail(message: str) -> None:
    print(f"attacker: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def lab_ip(text: str) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        fail(f"not an IPv4 address: {text}")
    if not any(ip in net for net in LAB_NETS):
        fail(f"{ip} is not a lab address")
    return str(ip)


def endpoint(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return lab_ip(host), bounded(port, "port", 1, 65535)


def bounded(text: str, what: str, low: int, high: int) -> int:
    try:
        n = int(text)
    except ValueError:
        fail(f"bad {what}: {text}")
    if not low <= n <= high:
        fail(f"{what} must be between {low} and {high}, got {n}")
    return n


def require_lab_namespace() -> None:
    """Runs only inside a named namespace of the lab (ip netns add np...-NAME), never in the root one."""
    own = os.stat("/proc/self/ns/net")
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        names = []
    for name in names:
        st = os.stat(os.path.join("/run/netns", name))
        if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino) and name.startswith("np"):
            return
    fail("refusing to run outside a lab network namespace (ip netns exec np...-NAME)")


def emit(src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
    line = {"src": src, "sport": sport, "dst": dst, "dport": dport, "payload": payload.hex()}
    print(json.dumps(line), flush=True)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    s, d = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    udp_len = 8 + len(payload)
    pseudo = s + d + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    # version 4, IHL 5, TOS 0, total length, id, DF, TTL 64, UDP, checksum, source, destination
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, os.getpid() & 0xFFFF, 0x4000, 64,
                         socket.IPPROTO_UDP, 0, s, d)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def sniff(args: list[str]) -> None:
    if len(args) < 2:
        fail("sniff MAX_COUNT TIMEOUT_MS [filters]")
    max_count = bounded(args[0], "max count", 1, MAX_COUNT)
    deadline = time.monotonic() + bounded(args[1], "timeout", 1, MAX_TIME_MS) / 1000
    filters: dict[str, str] = {}
    rest = args[2:]
    while rest:
        flag, value, rest = rest[0], rest[1] if len(rest) > 1 else "", rest[2:]
        if flag not in ("--src", "--dst", "--sport", "--dport", "--np-type") or value == "":
            fail(f"bad filter {flag} {value}")
        filters[flag[2:]] = lab_ip(value) if flag in ("--src", "--dst") else str(bounded(value, flag, 0, 65535))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    print("ready", flush=True)
    seen = 0
    while seen < max_count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        frame, (_ifname, _proto, pkttype, hatype, _addr) = sock.recvfrom(65535)
        if pkttype == PACKET_OUTGOING:
            continue
        if hatype == ARPHRD_ETHER:
            if len(frame) < 14 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
                continue
            ip = frame[14:]
        elif hatype == ARPHRD_NONE:
            ip = frame
        else:
            continue
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        payload = ip[ihl + 8:total]
        if filters.get("src", src) != src or filters.get("dst", dst) != dst:
            continue
        if int(filters.get("sport", sport)) != sport or int(filters.get("dport", dport)) != dport:
            continue
        if "np-type" in filters and not (payload[:2] == b"NP" and len(payload) > 3
                                         and payload[3] == int(filters["np-type"])):
            continue
        emit(src, sport, dst, dport, payload)
        seen += 1


def payload_arg(text: str) -> bytes:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        fail("payload must be hex")
    if not 1 <= len(data) <= 1472:
        fail("payload must be 1..1472 bytes")
    return data


def inject(args: list[str]) -> None:
    if len(args) != 5:
        fail("inject SRC_IP:PORT DST_IP:PORT HEX COUNT INTERVAL_MS")
    src, dst = endpoint(args[0]), endpoint(args[1])
    packet = ipv4_udp(src, dst, payload_arg(args[2]))
    count = bounded(args[3], "count", 1, 1000)
    interval = bounded(args[4], "interval", 0, 10_000) / 1000
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # implies IP_HDRINCL
    for i in range(count):
        sock.sendto(packet, (dst[0], 0))
        if interval and i + 1 < count:
            time.sleep(interval)
    print(f"injected {count}", flush=True)


def replay(args: list[str]) -> None:
    if len(args) != 7:
        fail("replay LOCAL_PORT DST_IP:PORT HEX COUNT INTERVAL_MS LISTEN_MS MAX_COUNT")
    local = bounded(args[0], "local port", 0, 65535)
    dst = endpoint(args[1])
    data = payload_arg(args[2])
    count = bounded(args[3], "count", 1, 1000)
    interval = bounded(args[4], "interval", 0, 10_000) / 1000
    deadline = time.monotonic() + bounded(args[5], "listen time", 0, MAX_TIME_MS) / 1000
    max_count = bounded(args[6], "max count", 1, MAX_COUNT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", local))
    for i in range(count):
        sock.sendto(data, dst)
        if interval and i + 1 < count:
            time.sleep(interval)
    print("sent", flush=True)
    seen = 0
    while seen < max_count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        payload, (host, port) = sock.recvfrom(65535)
        me = sock.getsockname()
        emit(host, port, me[0], me[1], payload)
        seen += 1


def main() -> None:
    require_lab_namespace()
    mode, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if mode == "sniff":
        sniff(rest)
    elif mode == "inject":
        inject(rest)
    elif mode == "replay":
        replay(rest)
    else:
        fail("usage: attacker.py sniff|inject|replay ... (see the docstring)")


if __name__ == "__main__":
    main()
