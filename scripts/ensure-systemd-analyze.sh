#!/bin/sh
# The deploy tests check the unit file with Debian's `systemd-analyze verify`. Install the
# systemd package from apt when the tool is missing (nothing is started or enabled); where it
# cannot be installed, say how: the deploy tests then fail with the same hint.
set -eu
if command -v systemd-analyze >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-systemd-analyze: systemd-analyze is missing; install it with: sudo apt-get install -y systemd" >&2
  exit 0
fi
echo "ensure-systemd-analyze: installing Debian's systemd for systemd-analyze (the unit file check; nothing is started)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends systemd
