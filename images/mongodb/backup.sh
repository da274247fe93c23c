#!/bin/bash
# Write every database to standard output as one archive, for `python3 tasks.py backup`:
# docker compose exec -T mongodb backup.sh > FILE
# The image built from MongoDB's repository writes a mongodump archive of every database; the one built
# from PyPI and npm, which has no mongodump, writes archive.js's Extended JSON of every database but
# admin, config and local. restore.sh reads what its own image writes.
# Runs as root (exec's default), which owns the scratch volume it stages the archive on.
set -euo pipefail
# shellcheck source=admin-tools.sh
. /usr/local/lib/tm351/mongodb-admin-tools.sh

if command -v mongodump >/dev/null; then
    mongodump "${tools_server[@]}" --archive
else
    admin_archive export "$workdir/export.jsonl" >&2
    cat "$workdir/export.jsonl"
fi
