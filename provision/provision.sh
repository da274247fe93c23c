#!/usr/bin/env bash
# Provision a Debian 12 host to run the TM351 stack under systemd: the Docker engine and Compose v2,
# an unprivileged service user, the install's secrets (made here, never carried in), the images, and
# tm351.service. Run as root by cloud-init (from /opt/tm351) or by Vagrant (from a copy of this folder).
# With TM351_FOR_IMAGE=yes (baking an image) it makes no secrets and starts nothing: each machine made
# from the image does both on its first boot.
# Re-running upgrades in place: existing secrets, student files and database volumes are kept.
set -Eeuo pipefail

SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
step="reading settings"
# Paths, the service user and its fixed uid come from settings.env, rendered from the shelf's constants.
# shellcheck source=/dev/null
. "$SOURCE_DIR/settings.env"
INSTALL_DIR=$TM351_INSTALL_DIR
STATE_DIR=$TM351_STATE_DIR
MARKER=$TM351_MARKER
SERVICE_USER=$TM351_SERVICE_USER
SERVICE_UID=$TM351_SERVICE_UID

report() {
    # One line a person or the baking command can find on the console and in the journal.
    local line="TM351-PROVISION: $*"
    echo "$line"
    logger -t tm351-provision "$line" 2>/dev/null || true
    if [ -w /dev/ttyS0 ]; then echo "$line" >/dev/ttyS0 2>/dev/null || true; fi
}

failed() {
    local status=$?
    report "FAILED at step '$step' (exit $status); details: journalctl -t tm351-provision, /var/log/cloud-init-output.log"
    mkdir -p "$STATE_DIR"
    echo "failed: $step" >"$STATE_DIR/provision-failed"
    exit "$status"
}
trap failed ERR

step="checking the host"
[ "$(id -u)" -eq 0 ] || { echo "provision.sh must run as root (sudo $0)" >&2; exit 2; }
grep -q '^ID=debian' /etc/os-release || report "warning: not Debian; carrying on with apt-get"
report "starting: recipe $TM351_RECIPE, version $TM351_VERSION"
rm -f "$STATE_DIR/provision-failed" "$MARKER"

step="installing files"
if [ "$SOURCE_DIR" != "$INSTALL_DIR" ]; then
    install -d -m 0755 "$INSTALL_DIR"
    for file in compose.yaml compose.tls.yaml settings.env provision.sh secrets.sh tls.sh compose.sh \
        tm351.service tm351-acme.service registry-ca.crt; do
        [ -f "$SOURCE_DIR/$file" ] || continue
        install -m "$(case "$file" in *.sh) echo 0755 ;; *) echo 0644 ;; esac)" "$SOURCE_DIR/$file" "$INSTALL_DIR/$file"
    done
fi

step="installing the Docker engine"
export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null || ! command -v curl >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates curl >/dev/null
fi
if [ -s "$SOURCE_DIR/registry-ca.crt" ]; then
    # A registry with a private CA (a classroom mirror): the engine trusts it for that registry only.
    install -D -m 0644 "$SOURCE_DIR/registry-ca.crt" "/etc/docker/certs.d/$TM351_REGISTRY_HOST/ca.crt"
fi
systemctl enable docker >/dev/null 2>&1
# A first start may fail (an engine folder kept from an earlier machine, still settling): try again
# for a minute before giving up, and then show why.
network_store=/var/lib/docker/network/files/local-kv.db
store_set_aside=no
for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    if ! systemctl is-active --quiet docker; then
        # An engine killed while it stopped (power lost, a machine stopped too soon) can keep a network
        # store this engine panics on (moby#45057) at every start. Networks hold nothing of the student's
        # and the stack makes its own again, so the store is set aside, once.
        if [ "$store_set_aside" = no ] && [ -f "$network_store" ] \
            && journalctl --no-pager -u docker -n 50 2>/dev/null | grep -q 'reservePools'; then
            mv -f "$network_store" "$network_store.unreadable"
            store_set_aside=yes
            report "set aside the engine's unreadable network store; the stack's networks are made again"
        fi
        systemctl reset-failed docker >/dev/null 2>&1 || true
        systemctl start docker >/dev/null 2>&1 || true
    fi
    sleep 1
done
docker info >/dev/null || { journalctl --no-pager -u docker -n 30 >&2; false; }

step="installing the Compose v2 plugin"
if ! docker compose version >/dev/null 2>&1; then
    # Debian 12 packages only Compose v1; this archive carries the v2 binary, pinned by its SHA-256.
    workdir=$(mktemp -d)
    curl -fsSL --retry 3 -o "$workdir/compose.tar.gz" "$COMPOSE_PLUGIN_URL"
    echo "$COMPOSE_PLUGIN_SHA256  $workdir/compose.tar.gz" | sha256sum -c --quiet -
    tar -xzf "$workdir/compose.tar.gz" -C "$workdir"
    install -D -m 0755 "$(find "$workdir" -path '*/src/compose/docker-compose' | head -n 1)" \
        /usr/local/lib/docker/cli-plugins/docker-compose
    rm -rf "$workdir"
fi
docker compose version >/dev/null

step="creating the service user"
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    getent group "$SERVICE_USER" >/dev/null || groupadd --system --gid "$SERVICE_UID" "$SERVICE_USER"
    useradd --system --uid "$SERVICE_UID" --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi
usermod -a -G docker "$SERVICE_USER"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"

step="preparing the student folder"
install -d -m 0755 "$TM351_DATA_DIR"
for folder in $TM351_FOLDERS; do
    # A synced folder may refuse chown; its own mount options give the service user access.
    [ -d "$TM351_DATA_DIR/$folder" ] || install -d -m 0755 "$TM351_DATA_DIR/$folder"
done
chown "$SERVICE_USER:$SERVICE_USER" "$TM351_DATA_DIR" 2>/dev/null || true
for folder in $TM351_FOLDERS; do chown "$SERVICE_USER:$SERVICE_USER" "$TM351_DATA_DIR/$folder" 2>/dev/null || true; done

if [ "${TM351_FOR_IMAGE:-}" != yes ]; then
    step="generating the secrets"
    "$INSTALL_DIR/secrets.sh"
fi
cat >"$INSTALL_DIR/.env" <<EOF
TM351_UID=$(id -u "$SERVICE_USER")
TM351_GID=$(id -g "$SERVICE_USER")
DOCKER_GID=$(getent group docker | cut -d: -f3)
EOF

step="fetching the images"
if [ -n "${TM351_IMAGES_ARCHIVE:-}" ] && [ -f "$SOURCE_DIR/$TM351_IMAGES_ARCHIVE" ]; then
    docker load --quiet --input "$SOURCE_DIR/$TM351_IMAGES_ARCHIVE" >/dev/null
else
    docker compose --project-directory "$INSTALL_DIR" -f "$INSTALL_DIR/compose.yaml" pull --quiet
fi

step="checking the project"
# With the HTTPS override too, which an instance's user-data may turn on.
COMPOSE_FILE="$INSTALL_DIR/compose.yaml:$INSTALL_DIR/compose.tls.yaml" \
    docker compose --project-directory "$INSTALL_DIR" config --quiet

step="installing tm351.service"
# tm351-acme.service does nothing unless instance.env asks for a Let's Encrypt certificate.
for unit in tm351.service tm351-acme.service; do
    install -m 0644 "$INSTALL_DIR/$unit" "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable tm351.service tm351-acme.service >/dev/null 2>&1
if [ "${TM351_FOR_IMAGE:-}" != yes ]; then
    step="starting tm351.service"
    systemctl restart tm351.service
    systemctl is-active --quiet tm351.service
fi

step="recording the result"
printf 'recipe=%s\nversion=%s\nport=%s\ndate=%s\n' "$TM351_RECIPE" "$TM351_VERSION" "$TM351_PORT" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
if [ "${TM351_FOR_IMAGE:-}" = yes ]; then
    report "OK: recipe $TM351_RECIPE $TM351_VERSION is ready for imaging; it starts on the next boot"
else
    report "OK: recipe $TM351_RECIPE $TM351_VERSION is up on port $TM351_PORT"
fi
