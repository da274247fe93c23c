#!/bin/bash
# Put back an archive that backup.sh wrote, read from standard input, for `python tasks.py restore`:
# docker compose exec -T mongodb restore.sh < FILE
# Every collection in the archive replaces the one of the same name (--drop); collections that are
# not in the archive are kept. The users are not restored: they come from the secrets (start.sh).
# Runs as root, like backup.sh, and passes the admin password the same way.
set -euo pipefail

: "${MONGODB_ADMIN_PASSWORD_FILE:=/run/secrets/mongodb_admin_password}"
[ -r "$MONGODB_ADMIN_PASSWORD_FILE" ] \
    || { echo "restore.sh: cannot read $MONGODB_ADMIN_PASSWORD_FILE: run it as root (exec's default user)" >&2; exit 1; }
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
password=$(<"$MONGODB_ADMIN_PASSWORD_FILE")
password=${password#"${password%%[![:space:]]*}"}
password=${password%"${password##*[![:space:]]}"}
password=${password//\\/\\\\}
(umask 077 && printf 'password: "%s"\n' "${password//\"/\\\"}" >"$workdir/tools.yaml")
unset password

mongorestore --config="$workdir/tools.yaml" --host=127.0.0.1 --port=27017 \
    --username=tm351admin --authenticationDatabase=admin \
    --archive --drop --nsExclude='admin.*' --nsExclude='config.*' --nsExclude='local.*'
