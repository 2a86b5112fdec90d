#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Bun (via npm when missing), the project's packages, and, as root on
# Linux, the Debian tools the NAT lab needs. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION=1.4.5
# The NAT lab, and the real tunnel programs the hook tests drive.
# qemu-user and the arm64 C library run the arm64 binary in the tests. prometheus ships promtool, which
# checks what serve --metrics and up --metrics print (the tests need only promtool, not the server);
# redis-server is the shared store the several-servers tests start on loopback and in the lab.
LAB_PACKAGES=(iproute2 iptables nftables conntrack socat iputils-ping python3 openvpn wireguard-tools wireguard-go
  qemu-user libc6-arm64-cross coturn miniupnpd prometheus redis-server)

if ! command -v bun >/dev/null 2>&1; then
  echo "setup: installing Bun $BUN_VERSION with npm" >&2
  npm install -g --no-fund --no-audit "bun@$BUN_VERSION" >&2
fi

if [ "$(id -u)" = 0 ] && [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${LAB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # coturn, miniupnpd, prometheus and redis-server would start as services on install; the tests start
    # their own instances, on loopback or in namespaces. policy-rc.d's 101 tells the packages not to start
    # (Debian's invoke-rc.d rule); a machine that has none gets one for the install only.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

bun install --frozen-lockfile >&2
