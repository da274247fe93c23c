#!/usr/bin/env bash
# Make the install's missing secrets on this host (never replacing one), readable by the service user only.
# Run by provision.sh and, as root, before every start of tm351.service: a machine made from an image
# gets its own secrets on its first boot, never the ones of the machine the image was made on.
set -euo pipefail

INSTALL_DIR=/opt/tm351
SERVICE_USER=tm351
# shellcheck source=/dev/null
. "$INSTALL_DIR/settings.env"

install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$INSTALL_DIR/secrets"
for name in $TM351_SECRETS; do
    secret="$INSTALL_DIR/secrets/$name"
    if [ ! -s "$secret" ]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$secret")
    fi
    chown "$SERVICE_USER:$SERVICE_USER" "$secret"
    chmod 0600 "$secret"
done
