#!/bin/sh
# systemctl for provisioning in a chroot, where no systemd runs: `enable --now` fails there (systemd 252 asks
# PID 1 to start the unit), while enabling is all an image needs and the build runs its own engine already.
for argument; do
    shift
    [ "$argument" = --now ] || set -- "$@" "$argument"
done
exec /bin/systemctl "$@"
