# shellcheck shell=bash
# Sourced by backup.sh and restore.sh: the MongoDB database tools' configuration file that logs in as
# tm351admin. Only root (exec's default user) can read the admin password's secret; the password reaches
# the tools in a 0600 file that is deleted on exit, never on a command line.
: "${MONGODB_ADMIN_PASSWORD_FILE:=/run/secrets/mongodb_admin_password}"
[ -r "$MONGODB_ADMIN_PASSWORD_FILE" ] \
    || { echo "${0##*/}: cannot read $MONGODB_ADMIN_PASSWORD_FILE: run it as root (exec's default user)" >&2; exit 1; }
workdir=$(mktemp -d)
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
