# shellcheck shell=bash
# Sourced by backup.sh and restore.sh: how they log in as tm351admin, and a work folder ($workdir, on disk) that
# is deleted on exit. Only root (exec's default user) can read the admin password's secret; it reaches
# mongodump and mongorestore in a 0600 file there, never on a command line, and archive.js reads it itself.
#   tools_login           the options that log mongodump and mongorestore in (a --config file)
#   admin_archive ARGS... node archive.js ARGS (the image built from PyPI and npm, which has no mongodump)
: "${MONGODB_ADMIN_PASSWORD_FILE:=/run/secrets/mongodb_admin_password}"
[ -r "$MONGODB_ADMIN_PASSWORD_FILE" ] \
    || { echo "${0##*/}: cannot read $MONGODB_ADMIN_PASSWORD_FILE: run it as root (exec's default user)" >&2; exit 1; }
# On the app's scratch volume: an archive may be far larger than the in-memory /tmp.
workdir=$(mktemp -d --tmpdir=/var/tmp)
trap 'rm -rf "$workdir"' EXIT
password=$(<"$MONGODB_ADMIN_PASSWORD_FILE")
password=${password#"${password%%[![:space:]]*}"}
password=${password%"${password##*[![:space:]]}"}
password=${password//\\/\\\\}
tools_config=$workdir/tools.yaml
(umask 077 && printf 'password: "%s"\n' "${password//\"/\\\"}" >"$tools_config")
unset password
# shellcheck disable=SC2034  # for the script that sources this file
tools_login=(--config="$tools_config" --host=127.0.0.1 --port=27017 --username=tm351admin --authenticationDatabase=admin)

# mongod and this client share the app's memory limit: the client gives way (the kernel stops it first
# when the memory runs out) and keeps its JavaScript heap small.
admin_archive() {
    (
        echo 1000 >/proc/self/oom_score_adj 2>/dev/null || true
        NODE_PATH=/usr/local/lib/mongodb-npm/node_modules \
            exec node --max-old-space-size=64 --max-semi-space-size=1 /usr/local/share/mongodb/archive.js "$@"
    )
}
