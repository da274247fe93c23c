#!/bin/bash
# Put back an archive that backup.sh wrote, read from standard input, for `python3 tasks.py restore`:
# docker compose exec -T -u root postgres restore.sh < FILE
# Each database in it replaces the one of the same name; databases not in it are kept. The whole archive is read
# first; each database goes into a new one, and only once all of them are in are they swapped for the ones they
# replace (in one transaction), so a failed restore leaves every database as it was. Sessions on those are ended.
# A single pg_dump archive (what earlier images wrote) is the tm351 database.
# The archive's own SQL runs as a login made for this restore alone, and dropped after it: no superuser, no
# CREATEROLE, a member of no role. (As tm351admin, whose CREATEROLE may grant PostgreSQL's predefined roles, it
# could make itself pg_execute_server_program and run programs here; a course login may have been granted them.)
# Each database, and all in it, then goes to its owner: one of the course's logins, or tm351admin for any other.
# A backup from elsewhere can run no server program, no event trigger, nothing in another database; the names it
# gives are checked before any reaches SQL.
set -euo pipefail

export PGHOST=/var/run/postgresql PGOPTIONS='-c client_min_messages=warning'
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups --)
staging=tm351_restoring_
replaced=tm351_replaced_
name_pattern='^[A-Za-z_][A-Za-z0-9_]{0,62}$'
restorer=tm351_restorer
# On the app's scratch volume, which only root writes: an archive may be far larger than the in-memory /tmp.
workdir=$(mktemp -d --tmpdir=/var/tmp)
trap 'rm -rf "$workdir"' EXIT

fail() {
    echo "restore.sh: $*" >&2
    exit 1
}
sql() {
    "${as_postgres[@]}" psql --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --dbname=postgres "$@" >/dev/null
}
query() {
    "${as_postgres[@]}" psql --no-psqlrc --no-password --dbname=postgres --tuples-only --no-align --command="$1"
}
# A restored database goes to its owner when that is one of the course's logins, otherwise to tm351admin.
# shellcheck source=course-logins.sh
. /usr/local/lib/tm351/postgres-course-logins.sh
login_of() {
    if [ -n "${course_password[$1]+set}" ]; then echo "$1"; else echo tm351admin; fi
}

archive=$workdir/archive
cat >"$archive"
if [ "$(head -c 5 "$archive")" = PGDMP ]; then
    printf 'tm351\ttm351\n' >"$workdir/databases.tsv"
    dump_of() { cat "$archive"; }
elif tar --list --file="$archive" >"$workdir/members" 2>/dev/null && [ -s "$workdir/members" ]; then
    # Read to standard output only: nothing in the archive is ever made on disk, so no link in it is followed.
    tar --extract --to-stdout --file="$archive" databases.tsv >"$workdir/databases.tsv" 2>/dev/null \
        || fail "the archive holds no databases.tsv; no database was changed"
    dump_of() { tar --extract --to-stdout --file="$archive" "$1.dump"; }
else
    fail "this is not an archive that backup.sh wrote; no database was changed"
fi

names=() owners=()
expected=(databases.tsv)
while IFS=$'\t' read -r name owner rest || [ -n "$name" ]; do
    [[ $name =~ $name_pattern && $owner =~ $name_pattern && -z $rest ]] \
        || fail "line $((${#names[@]} + 1)) of databases.tsv does not name a database and its owner; no database was changed"
    case " ${names[*]} " in *" $name "*) fail "databases.tsv names $name twice; no database was changed" ;; esac
    case $name in postgres | template0 | template1 | tm351_restoring* | tm351_replaced*)
        fail "databases.tsv names $name, which no backup holds; no database was changed" ;;
    esac
    expected+=("${#names[@]}.dump")
    names+=("$name") owners+=("$owner")
done <"$workdir/databases.tsv"
if [ -s "$workdir/members" ]; then
    [ "$(sort "$workdir/members")" = "$(printf '%s\n' "${expected[@]}" | sort)" ] \
        || fail "the archive holds other files than databases.tsv and one dump per database; no database was changed"
fi

drop_staged() {
    local i
    for i in "${!names[@]}"; do sql --command="DROP DATABASE IF EXISTS $staging$i WITH (FORCE)"; done
}

# Leftovers of an earlier restore that was interrupted (tm351_restoring and tm351_replaced: earlier images').
while read -r leftover; do
    [ -z "$leftover" ] || sql --command="DROP DATABASE \"$leftover\" WITH (FORCE)"
done < <(query "SELECT datname FROM pg_database WHERE datname ~ '^tm351_(restoring|replaced)(_[0-9]+)?$'")

# The restore's own login (one an interrupted restore left is dropped with its databases, above).
sql --command="DROP ROLE IF EXISTS $restorer"
restorer_password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
sql <<<"CREATE ROLE $restorer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$restorer_password'"
trap 'drop_staged; sql --command="DROP ROLE IF EXISTS $restorer"; rm -rf "$workdir"' EXIT

for i in "${!names[@]}"; do
    login=$(login_of "${owners[$i]}")
    "${as_postgres[@]}" createdb --no-password --owner="$restorer" --template=template0 --encoding=UTF8 \
        --locale=C.UTF-8 "$staging$i"
    if ! dump_of "$i" | PGPASSWORD=$restorer_password pg_restore --host=127.0.0.1 --username="$restorer" \
        --no-password --no-owner --no-privileges --dbname="$staging$i" --single-transaction; then
        fail "the database ${names[$i]} in the archive could not be restored; no database was changed"
    fi
    # Everything the restore made, the database itself among it, to the owner; whatever was granted to the
    # restore's login goes with it.
    sql --dbname="$staging$i" --command="REASSIGN OWNED BY $restorer TO $login" --command="DROP OWNED BY $restorer"
done

# The swap: every database that is replaced is closed to new sessions, then in one transaction its sessions
# are ended and it is renamed aside, and the restored one takes its name.
existing=() swap=()
for i in "${!names[@]}"; do
    name=${names[$i]}
    if [ -n "$(query "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
        existing+=("$name")
        swap+=(--command="ALTER DATABASE \"$name\" RENAME TO $replaced$i")
    fi
    swap+=(--command="ALTER DATABASE $staging$i RENAME TO \"$name\"")
done
for name in "${existing[@]}"; do sql --command="ALTER DATABASE \"$name\" WITH ALLOW_CONNECTIONS false"; done
closed=$(printf "'%s'," "${existing[@]}" "")
if ! sql --single-transaction \
    --command="SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${closed%,})" "${swap[@]}"; then
    for name in "${existing[@]}"; do sql --command="ALTER DATABASE \"$name\" WITH ALLOW_CONNECTIONS true"; done
    drop_staged
    fail "could not swap in the restored databases; no database was changed"
fi
for i in "${!names[@]}"; do sql --command="DROP DATABASE IF EXISTS $replaced$i WITH (FORCE)"; done
