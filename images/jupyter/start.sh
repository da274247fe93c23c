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

# Course notebooks reach the stack's databases at localhost ($TM351_LOCAL_FORWARDS: "PORT=APP:PORT ..."):
# socat forwards each port, on the IPv4 and (where there is one) the IPv6 loopback, to the app, whose address it
# looks up at each connection. They run as the student, as the server does, each started from a subshell so
# that tini, not the server, adopts it.
for forward in ${TM351_LOCAL_FORWARDS:-}; do
    port=${forward%%=*}
    target=${forward#*=}
    ("${as_user[@]}" socat "TCP4-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "TCP:$target" &)
    if [ -s /proc/net/if_inet6 ]; then
        ("${as_user[@]}" socat "TCP6-LISTEN:$port,bind=[::1],fork,reuseaddr" "TCP:$target" &)
    fi
done
# The course data's files, into the student's data/ folder once (a file there already is kept).
"${as_user[@]}" /usr/local/lib/tm351/course-files.sh
exec "${as_user[@]}" "$@"
