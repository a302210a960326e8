#!/bin/sh
# The fleet tests (edge forwarding, the central service) run against a real NATS JetStream
# server and a real PostgreSQL, both from Debian; each test starts its own (temp dir, free
# loopback port) through test/helpers/nats-server.ts and test/helpers/postgres.ts. Install them
# from apt when missing; do nothing when present. Where they cannot be installed (not root, no
# apt) say how, and let the other tests run: the fleet tests then fail with the same hint.
set -eu
missing=""
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing="$missing nats-server"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-fleet-servers:$missing missing and this is not root; install with: sudo apt-get install -y$missing" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-fleet-servers:$missing missing and apt-get is not available; install$missing" >&2
  exit 0
fi
echo "ensure-fleet-servers: installing Debian's$missing for the fleet tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
# Debian's packages start system services where an init system runs; the tests start their own.
