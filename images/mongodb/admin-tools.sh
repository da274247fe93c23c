# shellcheck shell=bash
# Sourced by backup.sh and restore.sh: where their clients reach the server, and a work folder ($workdir, on
# disk) that is deleted on exit.
#   tools_server          the options that point mongodump and mongorestore at the server
#   admin_archive ARGS... node archive.js ARGS (the image built from PyPI and npm, which has no mongodump)
# On the app's scratch volume: an archive may be far larger than the in-memory /tmp.
workdir=$(mktemp -d --tmpdir=/var/tmp)
trap 'rm -rf "$workdir"' EXIT
# shellcheck disable=SC2034  # for the script that sources this file
tools_server=(--host=127.0.0.1 --port=27017)

# mongod and this client share the app's memory limit: the client gives way (the kernel stops it first
# when the memory runs out) and keeps its JavaScript heap small.
admin_archive() {
    (
        echo 1000 >/proc/self/oom_score_adj 2>/dev/null || true
        NODE_PATH=/usr/local/lib/mongodb-npm/node_modules \
            exec node --max-old-space-size=64 --max-semi-space-size=1 /usr/local/share/mongodb/archive.js "$@"
    )
}
