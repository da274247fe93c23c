#!/bin/bash
# Write every database to standard output, for `python3 tasks.py backup`:
# docker compose exec -T -u root postgres backup.sh > FILE
# A tar of databases.tsv, one line per database (its name, a tab, its owner's name, in name order), and N.dump,
# the pg_dump archive (custom format) of the database on line N (from 0). All but postgres and the templates:
# the course's (tm351, testdb, tm351_clean, tm351_hospital) and those its activities make. restore.sh reads it.
# Roles are not in it (init.sql makes the course's at every start).
set -euo pipefail

as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups --)
export PGHOST=/var/run/postgresql
# On the app's scratch volume, which only root writes: the dumps may be far larger than the in-memory /tmp.
workdir=$(mktemp -d --tmpdir=/var/tmp)
trap 'rm -rf "$workdir"' EXIT
chown postgres:postgres "$workdir"

"${as_postgres[@]}" psql --no-psqlrc --no-password --dbname=postgres --tuples-only --no-align --field-separator=$'\t' \
    --command="SELECT datname, pg_get_userbyid(datdba) FROM pg_database
               WHERE NOT datistemplate AND datname <> 'postgres' AND datname !~ '^tm351_(restoring|replaced)'
               ORDER BY datname" >"$workdir/databases.tsv"

members=(databases.tsv)
n=0
while IFS=$'\t' read -r name _; do
    # restore.sh accepts only such names (it puts them into SQL): refuse now, not when the backup is needed.
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || {
        echo "backup.sh: the database named '$name' cannot be backed up: only letters, digits and _ are; rename it" \
            "(ALTER DATABASE ... RENAME TO ...) and back up again" >&2
        exit 1
    }
    "${as_postgres[@]}" pg_dump --no-password --dbname="$name" --format=custom --file="$workdir/$n.dump"
    members+=("$n.dump")
    n=$((n + 1))
done <"$workdir/databases.tsv"
tar --create --file=- --directory="$workdir" --owner=0 --group=0 --numeric-owner -- "${members[@]}"
