# shellcheck shell=bash
# Sourced by start.sh: `load_course_data SOCKET` puts each course dataset the image carries into its database,
# once, while the server start.sh runs before the real one listens on SOCKET (as postgres) and on 127.0.0.1.
#   /usr/local/share/tm351/course-data/NAME.sql   run into database NAME (made, owned by tm351, when missing)
# The SQL runs in that folder with psql, as the database's owner when that is a course login (course-logins.sh),
# in one transaction, from the unprivileged OS user nobody: not as a superuser, and a psql command that runs a
# program (\!) can reach neither the databases' files nor the superuser's socket. While it loads, tm351admin has no
# CREATEROLE (with it, the SQL could grant itself PostgreSQL's predefined roles, pg_execute_server_program among
# them, and run programs as the server), and a database whose owner is a member of one of those roles is not
# loaded into. Nothing else is connected: this is the private server start.sh runs first. A dataset that is in the table
# tm351_course_data (database postgres) was loaded before and is never loaded again, so nothing a student
# changed is loaded over; one that fails leaves its database as it was, says why, and is tried at the next start.
# shellcheck source=course-logins.sh
. /usr/local/lib/tm351/postgres-course-logins.sh

course_data=/usr/local/share/tm351/course-data
course_name_pattern='^[a-z_][a-z0-9_]{0,62}$'
# PostgreSQL's predefined roles that reach the server's programs and files.
server_roles="'pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'"
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --)

load_course_data() {
    local socket=$1 sql name owner loaded made digest
    superuser() {
        # shellcheck disable=SC2154  # as_user: start.sh's (tm351_drop_to postgres)
        "${as_user[@]}" psql --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --tuples-only --no-align \
            --host="$socket" --username=postgres --dbname=postgres "$@"
    }
    superuser --command='CREATE TABLE IF NOT EXISTS tm351_course_data
        (name text PRIMARY KEY, sha256 text NOT NULL, loaded timestamptz NOT NULL DEFAULT now())'
    superuser --command='ALTER ROLE tm351admin NOCREATEROLE'
    for sql in "$course_data"/*.sql; do
        [ -f "$sql" ] || continue
        name=$(basename "$sql" .sql)
        if ! [[ $name =~ $course_name_pattern ]]; then
            echo "course data: $name.sql is not named after a database; not loaded" >&2
            continue
        fi
        loaded=$(superuser --set=name="$name" <<<"SELECT 1 FROM tm351_course_data WHERE name = :'name';")
        [ -z "$loaded" ] || continue
        owner=$(superuser --set=name="$name" <<<"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'name';")
        made=
        if [ -z "$owner" ]; then
            superuser --set=name="$name" <<<'CREATE DATABASE :"name" OWNER tm351;'
            owner=tm351 made=yes
        elif [ -z "${course_password[$owner]+set}" ]; then
            echo "course data: database $name belongs to $owner, not a course login; $name.sql not loaded into it" >&2
            continue
        elif [ -n "$(superuser --set=owner="$owner" <<<"SELECT 1 FROM unnest(ARRAY[$server_roles]) AS role
                WHERE pg_has_role(:'owner', role, 'MEMBER');")" ]; then
            echo "course data: $owner, who owns database $name, was made a member of a role that runs the server's" \
                "programs; $name.sql not loaded into it (REVOKE that role from $owner)" >&2
            continue
        fi
        if (cd "$course_data" && PGPASSWORD=${course_password[$owner]} "${as_nobody[@]}" psql --no-psqlrc --quiet \
                --set=ON_ERROR_STOP=1 --single-transaction --host=127.0.0.1 --username="$owner" --dbname="$name" \
                --file="$sql" >/dev/null); then
            digest=$(sha256sum "$sql")
            superuser --set=name="$name" --set=digest="${digest%% *}" \
                <<<"INSERT INTO tm351_course_data (name, sha256) VALUES (:'name', :'digest');"
            echo "course data: loaded $name.sql into database $name"
        else
            if [ -n "$made" ]; then superuser --set=name="$name" <<<'DROP DATABASE :"name";'; fi
            echo "course data: $name.sql failed (above): database $name is as it was; it is tried again at the next start" >&2
        fi
    done
    superuser --command='ALTER ROLE tm351admin CREATEROLE'
}
