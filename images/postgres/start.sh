#!/bin/bash
# Entry point. As root: read the password secret (Compose mounts it with the host's owner and mode
# 0600, which the service user cannot read), make the data directory the service user's and, on the
# first start only, create the cluster. At every start, make the course's roles and databases and set
# the passwords (init.sql) with a server that listens on a private socket only, so a rotated secret
# takes effect at the next start. Then run PostgreSQL in the foreground as postgres, with every
# privilege dropped, and the door --expose-db publishes beside it.
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh
# shellcheck source=course-data.sh
. /usr/local/lib/tm351/postgres-course-data.sh

user=postgres
config=/etc/postgresql/postgresql.conf
init_sql=/usr/local/share/postgresql/init.sql
socket_dir=/var/run/postgresql
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${PG_MAJOR:=15}"
: "${POSTGRES_PASSWORD_FILE:=/run/secrets/postgres_password}"
# The door --expose-db publishes: a connection to door_port reaches the server from door_source, an address
# pg_hba.conf refuses the course's logins from.
door_port=5433
door_source=127.0.0.2

tm351_drop_to "$user"
if [ "$(id -u)" = 0 ]; then
    export HOME=/var/lib/postgresql USER=$user
fi

if [ "${1:-}" != postgres ]; then
    # Any other command (a shell, pg_dump...): run it as the service user, with nothing prepared.
    exec "${as_user[@]}" "$@"
fi
shift  # what follows are extra server options, such as -c log_connections=on
# A stop signal (tini passes it on to this script) before the server runs: stop once the command
# under way has finished.
trap 'exit 0' INT TERM

# $1 as a single-quoted argument of a psql backslash command, where \ and ' are special.
psql_quote() {
    local value=${1//\\/\\\\}
    printf "'%s'" "${value//\'/\'\'}"
}

# Start a server on data directory $1 that listens on a private socket only, run init.sql with the
# password on psql's standard input (builtins only: it never reaches a command line), stop it.
provision() {
    local pgdata=$1 private_socket
    private_socket=$("${as_user[@]}" mktemp -d /tmp/postgres-init.XXXXXX)
    # A stop signal now stops the private server first.
    trap '"${as_user[@]}" pg_ctl --pgdata="$pgdata" --mode=fast --silent stop || true; exit 0' INT TERM
    # On 127.0.0.1 too, where the course data's SQL logs in as a course login (nothing outside reaches it).
    "${as_user[@]}" pg_ctl --pgdata="$pgdata" --wait --timeout=300 --silent start -o "\
        -c config_file=$config -c listen_addresses=127.0.0.1 -c unix_socket_directories=$private_socket \
        -c log_statement=none -c log_min_duration_statement=-1 -c log_min_error_statement=panic"
    {
        printf '\\set password %s\n' "$(psql_quote "$password")"
        printf '\\i %s\n' "$init_sql"
    } | "${as_user[@]}" psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 \
        --host="$private_socket" --username=postgres --dbname=postgres
    load_course_data "$private_socket"
    "${as_user[@]}" pg_ctl --pgdata="$pgdata" --mode=fast --wait --silent stop
    trap 'exit 0' INT TERM
    rmdir "$private_socket"
}

password=$(tm351_secret "$POSTGRES_PASSWORD_FILE")

volume=$(dirname "$PGDATA")
if [ "$(id -u)" = 0 ]; then
    install -d -o "$user" -g "$user" -m 2775 "$socket_dir"
    # The volume may come from an image whose service user had another uid, or be a bind mount.
    mkdir -p "$volume"
    find "$volume" -xdev \( ! -user "$user" -o ! -group "$user" \) -exec chown -h "$user:$user" {} +
    chmod 0700 "$volume"
    if [ -d "$PGDATA" ]; then chmod 0700 "$PGDATA"; fi
fi

if [ -f "$PGDATA/PG_VERSION" ]; then
    # An existing cluster is never initialised again, whatever else happens.
    version=$(<"$PGDATA/PG_VERSION")
    [ "$version" = "$PG_MAJOR" ] || tm351_fail "$PGDATA holds a PostgreSQL $version database and this" \
        "image runs PostgreSQL $PG_MAJOR: upgrade it with pg_upgrade (it is left untouched)"
    provision "$PGDATA"
else
    if [ -d "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
        tm351_fail "$PGDATA is not empty but holds no database cluster (no PG_VERSION): left untouched"
    fi
    # First start: build the cluster beside the data directory and move it into place only when it
    # is complete, so an interrupted first start is simply done again.
    staging=$PGDATA.initdb
    "${as_user[@]}" rm -rf "$staging"
    "${as_user[@]}" initdb --pgdata="$staging" --username=postgres --encoding=UTF8 \
        --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 --no-instructions
    provision "$staging"
    if [ -d "$PGDATA" ]; then rmdir "$PGDATA"; fi
    "${as_user[@]}" mv "$staging" "$PGDATA"
fi

unset password
# socat runs beside the server, as postgres, started from a subshell so that tini adopts it: the server
# would take the end of a child it does not know for a crashed backend.
("${as_user[@]}" socat "TCP4-LISTEN:$door_port,fork,reuseaddr" "TCP4:127.0.0.1:5432,bind=$door_source" &)
exec "${as_user[@]}" postgres -D "$PGDATA" -c config_file="$config" "$@"
