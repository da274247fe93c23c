#!/bin/bash
# Entry point: give the service user the host user's uid/gid (so projects in the student folder belong
# to them), then drop every privilege and run OpenRefine as that user, listening on all the
# container's interfaces and accepting any Host header (the gateway passes the student's own).
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

: "${OPENREFINE_PORT:=3333}"
: "${OPENREFINE_WORKSPACE:=/srv/TM351VCE/openrefine_projects}"
: "${REFINE_INI_PATH:=/etc/tm351/openrefine/refine.ini}"
export REFINE_INI_PATH

# Debian's refine script, called directly: its /usr/bin/openrefine wrapper runs it without exec, so a
# stop signal would reach the wrapper and not OpenRefine, which saves its projects on the way out.
# An upstream release (install-openrefine.sh) is in /opt/openrefine.
refine=/usr/share/openrefine/refine
if [ -x /opt/openrefine/refine ]; then
    refine=/opt/openrefine/refine
fi

tm351_remap_user
tm351_drop_to "$NB_USER"

if [ "${1:-}" != openrefine ]; then
    # Any other command (a shell...): run it as the service user, with nothing prepared.
    exec "${as_user[@]}" "$@"
fi
shift  # what follows are extra options of the refine script, such as -v debug

[ -r "$REFINE_INI_PATH" ] || tm351_fail "REFINE_INI_PATH=$REFINE_INI_PATH: no such file to read OpenRefine's settings from"

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

# -H '*': no Host header check (OpenRefine 3.6+ otherwise answers only to the host it binds to); the
# gateway, which asks for the login, passes whichever host name the student's browser used.
# -x: the notice of a new version makes browsers ask GitHub for the latest release; not here.
exec "${as_user[@]}" "$refine" -i 0.0.0.0 -p "$OPENREFINE_PORT" -H '*' -d "$OPENREFINE_WORKSPACE" \
    -x refine.display.new.version.notice=false "$@" run
