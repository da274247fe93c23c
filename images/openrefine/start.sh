#!/bin/bash
# Entry point: give the service user the host user's uid/gid (so projects in the student folder belong
# to them), then drop every privilege and run OpenRefine as that user, listening on all the
# container's interfaces and accepting any Host header (the gateway passes the student's own).
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

refine=/opt/openrefine/refine
: "${OPENREFINE_PORT:=3333}"
: "${OPENREFINE_WORKSPACE:=/srv/TM351VCE/openrefine_projects}"
: "${OPENREFINE_HEAP:=160M}"
: "${OPENREFINE_MIN_HEAP:=32M}"
: "${OPENREFINE_JAVA_OPTIONS:=}"

for size in OPENREFINE_HEAP OPENREFINE_MIN_HEAP; do
    [[ ${!size} =~ ^[1-9][0-9]*[kKmMgG]$ ]] || tm351_fail "$size=${!size} is not a heap size such as 160M or 1G"
done

tm351_remap_user
tm351_drop_to "$NB_USER"

if [ "${1:-}" != openrefine ]; then
    # Any other command (a shell...): run it as the service user, with nothing prepared.
    exec "${as_user[@]}" "$@"
fi
shift  # what follows are extra options of the refine script, such as -v debug

# The workspace is normally the student's folder, mounted: never chown it, only make it if missing.
if [ ! -d "$OPENREFINE_WORKSPACE" ]; then
    if [ "$(id -u)" = 0 ]; then
        install -d -o "$NB_UID" -g "$NB_GID" "$OPENREFINE_WORKSPACE"
    else
        mkdir -p "$OPENREFINE_WORKSPACE"
    fi
fi
"${as_user[@]}" test -w "$OPENREFINE_WORKSPACE" \
    || tm351_fail "$OPENREFINE_WORKSPACE is not writable by uid $NB_UID (NB_UID): OpenRefine cannot keep projects there"

# refine.ini no longer sets the memory (see the Dockerfile), so these reach the refine script, which
# turns them into -Xmx and -Xms. The other JVM options go through the java launcher's own variable.
export REFINE_MEMORY=$OPENREFINE_HEAP REFINE_MIN_MEMORY=$OPENREFINE_MIN_HEAP
if [ -n "$OPENREFINE_JAVA_OPTIONS" ]; then
    export JDK_JAVA_OPTIONS=$OPENREFINE_JAVA_OPTIONS
fi
# -H '*': no Host header check (OpenRefine 3.6+ otherwise answers only to the host it binds to).
# -x: the notice of a new version makes browsers ask GitHub for the latest release; not here.
exec "${as_user[@]}" "$refine" -i 0.0.0.0 -p "$OPENREFINE_PORT" -H '*' -d "$OPENREFINE_WORKSPACE" \
    -x refine.display.new.version.notice=false "$@" run
