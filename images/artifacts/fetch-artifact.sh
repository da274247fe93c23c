#!/bin/bash
# fetch-artifact.sh NAME URL SHA256 DEST: put the file at URL at DEST, checked against its SHA-256.
# Build step, shared by the images that download a release archive. A file of the same name in the
# artifacts folder ($TM351_ARTIFACTS_DIR, default /tmp/artifacts: what `python3 tasks.py build
# --artifacts DIR` supplies) is used instead of a download. Downloads trust $CURL_CA_BUNDLE if set.
# On any failure: exactly one line starting "tm351-artifact-error: " on stderr (the builder shows it
# to the user), nothing at DEST, exit status 1.
set -euo pipefail

if [ "$#" -ne 4 ]; then
    echo "usage: fetch-artifact.sh NAME URL SHA256 DEST" >&2
    exit 2
fi
name=$1 url=$2 sha256=$3 dest=$4
file=${url%%[?#]*}
file=${file##*/}
local_copy=${TM351_ARTIFACTS_DIR:-/tmp/artifacts}/$file
partial=$dest.partial
curl_log=$dest.curl-log

offline_fix="download $file yourself (or copy it from a machine that can), then run"
offline_fix+=" \`python3 tasks.py build --artifacts DIR\` with DIR holding $file"

# One line on stderr: what went wrong ($1) with NAME and its URL, and the fix ($2, default: offline_fix).
fail() {
    local line="tm351-artifact-error: $name ($url): $1; fix: ${2:-$offline_fix}"
    rm -f "$partial" "$curl_log"
    printf '%s\n' "${line//$'\n'/ }" >&2
    exit 1
}

[[ $sha256 =~ ^[0-9a-fA-F]{64}$ ]] || fail "no valid SHA-256 is pinned for it (got '$sha256')" \
    "set the image's SHA-256 build argument to the checksum its publisher lists for $file"
mkdir -p "$(dirname "$dest")"

if [ -f "$local_copy" ]; then
    source="$local_copy (from the artifacts folder)"
    cp "$local_copy" "$partial"
else
    source="the download"
    curl_options=(--fail --location --retry 3 --connect-timeout 20 --silent --show-error)
    if [ -n "${CURL_CA_BUNDLE:-}" ]; then
        curl_options+=(--cacert "$CURL_CA_BUNDLE")
    fi
    if ! curl "${curl_options[@]}" --output "$partial" "$url" 2>"$curl_log"; then
        reason=$(grep '^curl: ' "$curl_log" | tail -n 1 || true)
        fail "the download failed (${reason:-curl gave no reason})"
    fi
    rm -f "$curl_log"
fi

if ! printf '%s  %s\n' "${sha256,,}" "$partial" | sha256sum --check --status -; then
    actual=$(sha256sum "$partial")
    fail "checksum mismatch: $source has SHA-256 ${actual%% *}, not the pinned ${sha256,,}"
fi
mv "$partial" "$dest"
