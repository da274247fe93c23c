#!/bin/bash
# Entry point: give the service user the host user's uid/gid (so projects in the student folder belong
# to them), then drop every privilege and run OpenRefine as that user, listening on all the
# container's interfaces and accepting any Host header (the gateway passes the student's own).
set -euo pipefail

user=openrefine
home=/home/$user
refine=/opt/openrefine/refine
: "${OPENREFINE_PORT:=3333}"
: "${OPENREFINE_WORKSPACE:=/srv/TM351VCE/openrefine_projects}"
: "${OPENREFINE_HEAP:=160M}"
: "${OPENREFINE_MIN_HEAP:=32M}"
: "${OPENREFINE_JAVA_OPTIONS:=}"
: "${NB_UID:=1000}"
: "${NB_GID:=100}"

fail() {
    echo "start.sh: $*" >&2
    exit 1
}

for size in OPENREFINE_HEAP OPENREFINE_MIN_HEAP; do
    [[ ${!size} =~ ^[1-9][0-9]*[kKmMgG]$ ]] || fail "$size=${!size} is not a heap size such as 160M or 1G"
done

# The prefix that runs a command as the service user without any privilege.
as_user=()
if [ "$(id -u)" = 0 ]; then
    if [ "$(id -g "$user")" != "$NB_GID" ]; then
        if ! getent group "$NB_GID" >/dev/null; then
            groupadd --gid "$NB_GID" "${user}-host"
        fi
        usermod --gid "$NB_GID" "$user"
    fi
    if [ "$(id -u "$user")" != "$NB_UID" ]; then
        # --non-unique: a host user who is root (uid 0) keeps uid 0, without any capability (see below).
        usermod --non-unique --uid "$NB_UID" "$user"
    fi
    # The home directory comes from the image: make it the (possibly new) user's.
    find "$home" -xdev \( ! -user "$NB_UID" -o ! -group "$NB_GID" \) -exec chown -h "$NB_UID:$NB_GID" {} +
    as_user=(setpriv --reuid="$NB_UID" --regid="$NB_GID" --clear-groups
             --inh-caps=-all --bounding-set=-all --no-new-privs --)
fi
export HOME=$home USER=$user

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
    || fail "$OPENREFINE_WORKSPACE is not writable by uid $NB_UID (NB_UID): OpenRefine cannot keep projects there"

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
