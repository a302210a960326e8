#!/bin/sh
# The MQTT tests run Debian's mosquitto broker (each test starts its own on a free loopback
# port in a temporary folder, and stops it). Install it from apt when it is missing; do
# nothing when it is already there. Where it cannot be installed (not root, no apt) say how,
# and let the other tests run: the MQTT tests then fail with the same hint.
set -eu
MOSQUITTO=/usr/sbin/mosquitto
if [ -x "$MOSQUITTO" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-mosquitto: $MOSQUITTO is missing and this is not root; install it with: sudo apt-get install -y mosquitto" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-mosquitto: $MOSQUITTO is missing and apt-get is not available; install the mosquitto broker at $MOSQUITTO" >&2
  exit 0
fi
echo "ensure-mosquitto: installing Debian's mosquitto for the MQTT tests (the tests start their own broker; no service is enabled)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends mosquitto
