#!/bin/bash
# Write every database to standard output as one mongodump archive, for `python tasks.py backup`:
# docker compose exec -T mongodb backup.sh > FILE
# Runs as root (exec's default), the only user who can read the admin password's secret; the
# password reaches mongodump in a 0600 configuration file that is deleted, never on a command line.
set -euo pipefail

: "${MONGODB_ADMIN_PASSWORD_FILE:=/run/secrets/mongodb_admin_password}"
[ -r "$MONGODB_ADMIN_PASSWORD_FILE" ] \
    || { echo "backup.sh: cannot read $MONGODB_ADMIN_PASSWORD_FILE: run it as root (exec's default user)" >&2; exit 1; }
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
password=$(<"$MONGODB_ADMIN_PASSWORD_FILE")
password=${password#"${password%%[![:space:]]*}"}
password=${password%"${password##*[![:space:]]}"}
password=${password//\\/\\\\}
(umask 077 && printf 'password: "%s"\n' "${password//\"/\\\"}" >"$workdir/tools.yaml")
unset password

mongodump --config="$workdir/tools.yaml" --host=127.0.0.1 --port=27017 \
    --username=tm351admin --authenticationDatabase=admin --archive
