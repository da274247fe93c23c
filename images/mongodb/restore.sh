#!/bin/bash
# Put back an archive that backup.sh wrote, read from standard input, for `python3 tasks.py restore`:
# docker compose exec -T mongodb restore.sh < FILE
# Every collection in the archive replaces the one of the same name (--drop); collections that are
# not in the archive are kept. The users are not restored: they come from the secrets (start.sh).
# Runs as root, like backup.sh, and passes the admin password the same way.
set -euo pipefail

# shellcheck source=admin-tools.sh
. /usr/local/lib/tm351/mongodb-admin-tools.sh

mongorestore "${tools_login[@]}" --archive --drop --nsExclude='admin.*' --nsExclude='config.*' --nsExclude='local.*'
