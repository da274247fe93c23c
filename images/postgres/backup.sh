#!/bin/bash
# Write the tm351 database to standard output as a pg_dump archive (custom format), for
# `python3 tasks.py backup`: docker compose exec -T -u root postgres backup.sh > FILE
set -euo pipefail
exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
    pg_dump --host=/var/run/postgresql --no-password --dbname=tm351 --format=custom
