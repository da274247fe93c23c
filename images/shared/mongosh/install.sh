#!/bin/bash
# Build step: install.sh APP DEST [FIX] installs in DEST npm's mongosh and the MongoDB Node.js driver, every
# package pinned with its checksum by package-lock.json beside this script (`npm ci`), for the image of APP;
# needs Debian's nodejs and npm. Trusts the build's CA bundle (ca-bundle.pem, mounted at
# /run/tm351-ca-bundle.pem). On failure: one line starting "tm351-artifact-error: APP: " on stderr (the
# builder shows it), ending with FIX when given, and exit status 1.
set -euo pipefail

app=${1:?usage: install.sh APP DEST [FIX]}
dest=${2:?usage: install.sh APP DEST [FIX]}
fix=${3:-}
lock_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ -s /run/tm351-ca-bundle.pem ]; then
    export NPM_CONFIG_CAFILE=/run/tm351-ca-bundle.pem
fi
mkdir -p "$dest"
cp "$lock_dir/package.json" "$lock_dir/package-lock.json" "$dest/"
# No install scripts: they would build or download native add-ons (Kerberos, client-side encryption)
# that mongosh loads only when those features are used.
if ! (cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    reason=$(grep -E -i 'error|fail|unreachable|resolve|connect' "$log" | tail -n 1 | sed 's/^[[:space:]]*//' \
        || echo "see the build log")
    line="tm351-artifact-error: $app: npm could not install mongosh from images/shared/mongosh/package-lock.json"
    line+=" ($reason); fix: let the build reach the npm registry (https://registry.npmjs.org)${fix:+, $fix}"
    printf '%s\n' "${line//$'\n'/ }" >&2
    exit 1
fi
