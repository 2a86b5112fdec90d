#!/usr/bin/env python3
"""Userspace point-to-point link with one-way delay and random loss, for the NAT lab.

Why this exists: the lab kernel has no tc netem/tbf qdiscs, so delay cannot be added with `tc`.
Instead this process creates two TUN devices and copies every packet read from one into the
other after DELAY_MS (per direction, FIFO order kept), dropping LOSS_PERCENT % of them at random.
Loss here applies to every IP packet (UDP, ICMP, ...), independently in each direction.

Usage: python3 delay-link.py NAME_A NAME_B DELAY_MS [LOSS_PERCENT]

If stdin is a pipe or socket, the link exits when it reaches EOF, i.e. when the parent that started it dies
(the NAT lab relies on this to never leave links behind). Prints "ready" once both devices exist. The caller then moves them into other namespaces with
`ip link set NAME netns NS` (the file descriptors keep working) and configures addresses.
The devices are not persistent: they vanish when this process exits (SIGTERM/SIGINT).
Stdlib only, so it runs on any python3 without a virtualenv.
"""

import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65535


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    name_a, name_b = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000.0
    loss = float(sys.argv[4]) / 100.0 if len(sys.argv) == 5 else 0.0

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    fd_a, fd_b = open_tun(name_a), open_tun(name_b)
    peer = {fd_a: fd_b, fd_b: fd_a}
    watched = [fd_a, fd_b]
    # FIFO or socket (Bun's "pipe" stdio is a socketpair); never a tty or /dev/null.
    if (os.fstat(0).st_mode & 0o170000) in (0o010000, 0o140000):
        watched.append(0)
    print("ready", flush=True)

    # (due time, sequence, destination fd, packet); the sequence number keeps FIFO order
    # for packets that become due at the same instant.
    pending: list[tuple[float, int, int, bytes]] = []
    seq = 0
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, dst, packet = heapq.heappop(pending)
            try:
                os.write(dst, packet)
            except OSError:
                pass  # device down (EIO) or queue full (EAGAIN): the packet is lost, like on a wire
        timeout = max(0.0, pending[0][0] - now) if pending else None
        readable, _, _ = select.select(watched, [], [], timeout)
        now = time.monotonic()
        for src in readable:
            if src == 0:
                if not os.read(0, 4096):
                    return 0  # parent gone
                continue
            while True:
                try:
                    packet = os.read(src, MAX_PACKET)
                except BlockingIOError:
                    break
                except OSError:
                    break  # device went away or is down; select will tell us again
                if not packet:
                    break
                if loss > 0 and random.random() < loss:
                    continue
                seq += 1
                heapq.heappush(pending, (now + delay, seq, peer[src], packet))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
