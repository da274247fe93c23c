#!/usr/bin/env bash
# Before any package is installed in the image: Debian's updates and security archives, and no service
# started by a package's install script (they would run on the build machine, outside any VM).
# Usage: base.sh ROOT SUITE MIRROR SECURITY_MIRROR
set -euo pipefail

root=$1
suite=$2
mirror=$3
security_mirror=$4

printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
