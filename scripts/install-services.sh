#!/usr/bin/env bash
# Installs the programs the multi-node tests run in front of and beside
# sockjs-test-server: HAProxy, nginx and Redis (Debian's haproxy, nginx and
# redis-server). Called by scripts/client-tests.sh before the cluster suite;
# safe to run by hand.
#
# The tests start their own instances on free ports with generated configs,
# so the packages' system daemons are never wanted: the install runs under a
# policy-rc.d that forbids starting services (Debian's way of saying "do not
# start daemons from maintainer scripts"), and any daemon that started anyway
# is stopped afterwards. Only daemons of packages installed by this run are
# touched.
#
# As root with apt-get it installs what is missing; otherwise it prints the
# command to run and exits 1. Nothing is done when all three are present.
set -euo pipefail

# Debian puts haproxy and nginx in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# package:binary
wanted=(haproxy:haproxy nginx:nginx redis-server:redis-server)
missing=()
for entry in "${wanted[@]}"; do
  command -v "${entry#*:}" >/dev/null || missing+=("${entry%%:*}")
done
[ "${#missing[@]}" = 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-services: ${missing[*]} needed by the cluster tests: sudo apt-get install -y ${missing[*]}" >&2
  echo "install-services: (their system daemons are not needed; the tests start their own)" >&2
  exit 1
fi

echo "install-services: installing Debian's ${missing[*]} (daemons not started)"
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  own_policy=1
  printf '#!/bin/sh\n# Written by sockjs-rs scripts/install-services.sh for the length of an install.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
fi
cleanup() { if [ -n "$own_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# A policy-rc.d that was already there may allow starting; stop what runs.
for pkg in "${missing[@]}"; do
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$pkg" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$pkg" ]; then
    "/etc/init.d/$pkg" stop >/dev/null 2>&1 || true
  fi
done
for entry in "${wanted[@]}"; do
  command -v "${entry#*:}" >/dev/null || {
    echo "install-services: ${entry%%:*} is still missing after apt-get install" >&2
    exit 1
  }
done
