#!/usr/bin/env python3
"""Replaces itself with a command at a given wall-clock time, and says when: a bench's "process start".

Usage: python3 exec-at.py EPOCH_NS COMMAND [ARG...]

Sleeps until EPOCH_NS (CLOCK_REALTIME, nanoseconds), writes "exec-at <ns>" to stderr and execs COMMAND in
its place (same PID, same stdio), as a shell's `exec` would. Started ahead of time, so neither Python's own
start-up nor `ip netns exec` counts. Stdlib only.
"""

import os
import sys
import time


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    at = int(sys.argv[1])
    # Bounded: one sleep per remaining interval, each one shorter (sleep never returns early by much).
    for _ in range(1000):
        wait = at - time.time_ns()
        if wait <= 0:
            break
        time.sleep(wait / 1e9)
    os.write(2, f"exec-at {time.time_ns()}\n".encode())
    os.execvp(sys.argv[2], sys.argv[2:])
    return 127  # not reached: execvp raises on failure


if __name__ == "__main__":
    sys.exit(main())
