#!/bin/bash
# Write every database to standard output as one mongodump archive, for `python3 tasks.py backup`:
# docker compose exec -T mongodb backup.sh > FILE
# Runs as root (exec's default), the only user who can read the admin password's secret.
set -euo pipefail
# shellcheck source=admin-tools.sh
. /usr/local/lib/tm351/mongodb-admin-tools.sh

mongodump "${tools_login[@]}" --archive
