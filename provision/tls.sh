#!/usr/bin/env bash
# HTTPS for an instance, as /opt/tm351/instance.env asks (TM351_TLS=self-signed or acme); nothing without it.
#   tls.sh         as root before every start of tm351.service: a key and a self-signed certificate when there
#                  are none (the key is made here and never leaves /opt/tm351/tls), then the certificate's
#                  fingerprint on the console, which is how a student's computer knows it reached this machine.
#   tls.sh acme    tm351-acme.service, once the stack is up: a Let's Encrypt certificate for TM351_DOMAIN,
#                  through the gateway's plain-HTTP server (webroot /opt/tm351/acme).
#   tls.sh deploy  certbot's deploy hook (first issue and every renewal): install it, restart the gateway.
set -euo pipefail

# shellcheck source=/dev/null
. "$(dirname "${BASH_SOURCE[0]}")/settings.env"
INSTALL_DIR=$TM351_INSTALL_DIR
TLS_DIR=$INSTALL_DIR/tls
ACME_DIR=$INSTALL_DIR/acme
IMDS=http://169.254.169.254/latest

if [ -r "$INSTALL_DIR/instance.env" ]; then
    # shellcheck source=/dev/null
    . "$INSTALL_DIR/instance.env"
fi
case "${TM351_TLS:-}" in
    "") exit 0 ;;
    self-signed | acme) ;;
    # Refuse to start rather than serve the login over plain HTTP when HTTPS was asked for.
    *) echo "instance.env: TM351_TLS=$TM351_TLS; expected self-signed or acme" >&2; exit 1 ;;
esac

report() {
    # Like provision.sh's result line: stdout, the journal and the serial console, which EC2's console output shows.
    local line
    line="TM351-TLS: sha256 $(openssl x509 -in "$TLS_DIR/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)"
    echo "$line"
    logger -t tm351-provision "$line" 2>/dev/null || true
    for console in /dev/ttyS0 /dev/console; do
        if [ -w "$console" ]; then echo "$line" >"$console" 2>/dev/null || true; fi
    done
}

public_names() {
    # ",IP:…,DNS:…" for the certificate, from EC2's metadata (IMDSv2) when it answers; nothing elsewhere.
    local token value
    token=$(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS/api/token" 2>/dev/null) || return 0
    value=$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/public-ipv4" 2>/dev/null) || value=
    if [[ $value =~ ^[0-9.]+$ ]]; then printf ',IP:%s' "$value"; fi
    value=$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/public-hostname" 2>/dev/null) || value=
    if [[ $value =~ ^[A-Za-z0-9.-]+$ ]]; then printf ',DNS:%s' "$value"; fi
}

certificate() {
    install -d -m 0700 -o root -g root "$TLS_DIR"
    install -d -m 0755 "$ACME_DIR"
    # Kept across restarts, so the fingerprint a student has seen stays valid; replaced only a day before expiry.
    if [ -s "$TLS_DIR/key.pem" ] && [ -s "$TLS_DIR/cert.pem" ] \
        && openssl x509 -in "$TLS_DIR/cert.pem" -noout -checkend 86400 >/dev/null; then
        return 0
    fi
    # With a domain too: the gateway's health check asks for it while Let's Encrypt has not answered yet.
    local names
    names="DNS:localhost${TM351_DOMAIN:+,DNS:$TM351_DOMAIN}$(public_names)"
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj /CN=tm351 \
            -addext "subjectAltName=$names" -addext "basicConstraints=critical,CA:FALSE" \
            -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" \
            -keyout "$TLS_DIR/key.pem.new" -out "$TLS_DIR/cert.pem.new" 2>/dev/null
    )
    chmod 0644 "$TLS_DIR/cert.pem.new"
    mv "$TLS_DIR/key.pem.new" "$TLS_DIR/key.pem"
    mv "$TLS_DIR/cert.pem.new" "$TLS_DIR/cert.pem"
}

acme() {
    [ "$TM351_TLS" = acme ] || return 0
    if ! command -v certbot >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends certbot >/dev/null
    fi
    local contact=(--register-unsafely-without-email)
    if [ -n "${TM351_ACME_EMAIL:-}" ]; then contact=(--email "$TM351_ACME_EMAIL"); fi
    # The deploy hook is saved with the certificate, so certbot's own timer runs it on every renewal.
    certbot certonly --non-interactive --agree-tos "${contact[@]}" --webroot --webroot-path "$ACME_DIR" \
        --cert-name "$TM351_DOMAIN" --domain "$TM351_DOMAIN" --keep-until-expiring \
        --deploy-hook "$INSTALL_DIR/tls.sh deploy"
    # A certificate certbot kept (no hook ran) that is not the one served, say after tls/ was emptied.
    if ! cmp -s "/etc/letsencrypt/live/$TM351_DOMAIN/fullchain.pem" "$TLS_DIR/cert.pem"; then
        RENEWED_LINEAGE=/etc/letsencrypt/live/$TM351_DOMAIN deploy
    fi
}

deploy() {
    local lineage=${RENEWED_LINEAGE:?certbot sets RENEWED_LINEAGE for its deploy hook}
    install -d -m 0700 -o root -g root "$TLS_DIR"
    install -m 0600 "$lineage/privkey.pem" "$TLS_DIR/key.pem"
    install -m 0644 "$lineage/fullchain.pem" "$TLS_DIR/cert.pem"
    report
    # The gateway copies the certificate when it starts.
    "$INSTALL_DIR/compose.sh" restart "$TM351_GATEWAY"
}

case "${1:-start}" in
    start)
        certificate
        report
        ;;
    acme) acme ;;
    deploy) deploy ;;
    *) echo "usage: $0 [start|acme|deploy]" >&2; exit 2 ;;
esac
