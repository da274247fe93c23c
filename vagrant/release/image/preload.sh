#!/usr/bin/env bash
# Apply provision/ in image mode inside the image being built: its own Docker engine, run in a chroot,
# loads the recipe's images, so a machine made from the image needs no network on its first boot.
# Usage: preload.sh ROOT BUNDLE_DIR
# Run it as the first process of new mount, network and PID namespaces (unshare --mount --net --pid --fork):
# every mount below and the engine vanish with it, and the engine cannot touch the builder's own network.
set -euo pipefail

root=$1
bundle=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
# provision.sh reports to /dev/ttyS0: here that is the builder's own serial console.
for tty in "$root"/dev/ttyS*; do
    if [ -e "$tty" ]; then mount --bind /dev/null "$tty"; fi
done
mount -t tmpfs tmpfs "$root/run"
for folder in bundle build bin; do mkdir -p "$root/run/tm351-$folder"; done
mount --bind "$bundle" "$root/run/tm351-bundle"
mount --bind "$here" "$root/run/tm351-build"
ln -s /run/tm351-build/systemctl-offline.sh "$root/run/tm351-bin/systemctl"

chroot "$root" dockerd --bridge=none --iptables=false --ip6tables=false >"$root/run/dockerd.log" 2>&1 &
engine=$!
for _ in $(seq 1 60); do
    if chroot "$root" docker info >/dev/null 2>&1; then break; fi
    sleep 1
done
if ! chroot "$root" docker info >/dev/null 2>&1; then
    echo "The image's Docker engine did not start in the chroot; its log:" >&2
    tail -n 30 "$root/run/dockerd.log" >&2
    exit 1
fi

chroot "$root" env PATH=/run/tm351-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash /run/tm351-bundle/provision.sh
chroot "$root" docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'

kill "$engine"
wait "$engine" || true
