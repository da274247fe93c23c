#!/usr/bin/env bash
# Make the installed Debian a Vagrant box that runs the stack: network, Vagrant's user, cloud-init without a
# cloud, the Compose v2 plugin, and the banner that shows the student's address and password on the console.
# Usage: configure.sh ROOT VAGRANT_PUBLIC_KEY COMPOSE_PLUGIN URL
set -euo pipefail

root=$1
vagrant_key=$2
compose_plugin=$3
url=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

echo tm351 >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttm351\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# The kernel's command line has net.ifnames=0, so the first adapter is eth0 on every hypervisor.
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' >"$root/etc/network/interfaces.d/eth0"
install -m 0644 "$here/cloud.cfg" "$root/etc/cloud/cloud.cfg.d/90-tm351-release.cfg"

# Vagrant logs in with its published insecure key and replaces it on the first `vagrant up`.
chroot "$root" useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 "$root/home/vagrant/.ssh"
install -m 0600 "$vagrant_key" "$root/home/vagrant/.ssh/authorized_keys"
chroot "$root" chown -R vagrant:vagrant /home/vagrant/.ssh
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
# Host keys are made on each machine's first boot (cloud-init); this covers a machine that disables it.
install -D -m 0644 "$here/ssh-host-keys.conf" "$root/etc/systemd/system/ssh.service.d/tm351-host-keys.conf"

install -D -m 0755 "$compose_plugin" "$root/usr/local/lib/docker/cli-plugins/docker-compose"

install -D -m 0755 "$here/banner.sh" "$root/usr/local/lib/tm351/banner.sh"
printf 'TM351_URL=%s\n' "$url" >"$root/usr/local/lib/tm351/release.env"
install -D -m 0644 "$here/tm351-banner.conf" "$root/etc/systemd/system/tm351.service.d/tm351-banner.conf"
