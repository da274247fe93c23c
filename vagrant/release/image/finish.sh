#!/usr/bin/env bash
# The last step of the image build: boot by UUID, and nothing of the build machine or one machine's identity
# left in the image (each VM made from it makes its own machine id, host keys and secrets).
# Usage: finish.sh ROOT
set -euo pipefail

root=$1

# grub-mkconfig in a chroot without udev names the build's loop device as root=; the filesystem's UUID does not change.
root_fs=$(awk '$2 == "/" { print $1 }' "$root/etc/fstab")
sed -i "s|root=/dev/loop[0-9]*p[0-9]*|root=$root_fs|g" "$root/boot/grub/grub.cfg"
if grep -q 'root=/dev/loop' "$root/boot/grub/grub.cfg"; then
    echo "grub.cfg still boots from the build's loop device" >&2
    exit 1
fi

rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
# The build's engine ran without networks; each machine's engine makes its own on first start.
rm -f "$root/var/lib/docker/network/files/local-kv.db" "$root/var/lib/docker/engine-id"
: >"$root/etc/resolv.conf"
rm -rf "${root:?}"/tmp/* "${root:?}"/var/tmp/*
find "$root/var/log" -type f -exec truncate -s 0 {} +
