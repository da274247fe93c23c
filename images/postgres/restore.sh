#!/bin/bash
# Replace the tm351 database with an archive that backup.sh wrote, read from standard input, for
# `python3 tasks.py restore`: docker compose exec -T -u root postgres restore.sh < FILE
# The archive goes into a new database first; only once all of it is in is that swapped for tm351
# (in one transaction), so a failed restore leaves tm351 as it was. Sessions on tm351 are ended.
# The archive's own SQL runs as the course's role tm351, never as a superuser: a backup from elsewhere can do
# nothing the course's own login could not (no server programs, no event triggers, no other databases).
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

db=tm351
owner=tm351
staging=tm351_restoring
replaced=tm351_replaced
export PGHOST=/var/run/postgresql PGOPTIONS='-c client_min_messages=warning'
# tm351's password is the course's published one (init.sql); the fixed statements below run as the superuser
# postgres, over the server's socket.
owner_password=tm351
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups --)

sql() {
    "${as_postgres[@]}" psql --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --dbname=postgres "$@" >/dev/null
}
exists() {
    [ -n "$("${as_postgres[@]}" psql --no-psqlrc --no-password --dbname=postgres --tuples-only --no-align \
        --command="SELECT 1 FROM pg_database WHERE datname = '$1'")" ]
}

# Leftovers of an earlier restore that was interrupted.
sql --command="DROP DATABASE IF EXISTS $staging WITH (FORCE)" \
    --command="DROP DATABASE IF EXISTS $replaced WITH (FORCE)"
"${as_postgres[@]}" createdb --no-password --owner="$owner" --template=template0 --encoding=UTF8 --locale=C.UTF-8 \
    "$staging"
if ! PGPASSWORD=$owner_password pg_restore --host=127.0.0.1 --username="$owner" --no-password --no-owner \
    --no-privileges --dbname="$staging" --single-transaction; then
    sql --command="DROP DATABASE $staging"
    echo "restore.sh: the archive could not be restored; $db is unchanged" >&2
    exit 1
fi

if exists "$db"; then
    sql --command="ALTER DATABASE $db WITH ALLOW_CONNECTIONS false"
    if ! sql --single-transaction \
        --command="SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" \
        --command="ALTER DATABASE $db RENAME TO $replaced" \
        --command="ALTER DATABASE $staging RENAME TO $db"; then
        sql --command="ALTER DATABASE $db WITH ALLOW_CONNECTIONS true" \
            --command="DROP DATABASE $staging WITH (FORCE)"
        echo "restore.sh: could not swap in the restored database; $db is unchanged" >&2
        exit 1
    fi
    sql --command="DROP DATABASE $replaced WITH (FORCE)"
else
    sql --command="ALTER DATABASE $staging RENAME TO $db"
fi
