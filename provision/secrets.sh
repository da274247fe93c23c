#!/usr/bin/env bash
# Make the install's missing secrets on this host (never replacing one), readable by the service user only.
# Run by provision.sh and, as root, before every start of tm351.service: a machine made from an image
# gets its own secrets on its first boot, never the ones of the machine the image was made on.
set -euo pipefail

# shellcheck source=/dev/null
. "$(dirname "${BASH_SOURCE[0]}")/settings.env"
SERVICE_USER=$TM351_SERVICE_USER

install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$TM351_SECRETS_DIR"
for name in $TM351_SECRETS; do
    secret="$TM351_SECRETS_DIR/$name"
    if [ ! -s "$secret" ]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$secret")
    fi
    chown "$SERVICE_USER:$SERVICE_USER" "$secret"
    chmod 0600 "$secret"
done
