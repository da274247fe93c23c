#!/bin/bash
# Entry point: hand the programs the secrets named by *_FILE variables, give the service user the host
# user's uid/gid (so files in the student folder belong to them), then run the command as that user with
# every privilege dropped.
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

tm351_export_file_secrets
tm351_remap_user
# The image holds no compiled bytecode (trim.py): Python writes it for the modules it imports in the service
# user's home, a volume, so only the first start after an install or an upgrade compiles them.
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$HOME/.cache/python}
tm351_drop_to "$NB_USER"
exec "${as_user[@]}" "$@"
