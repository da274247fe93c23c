#!/usr/bin/env bash
# `docker compose` on this host's project, as tm351.service runs it (a person can too: sudo /opt/tm351/compose.sh ps).
# When /opt/tm351/instance.env turns TLS on, the gateway's HTTPS override joins compose.yaml.
set -euo pipefail

# shellcheck source=/dev/null
. "$(dirname "${BASH_SOURCE[0]}")/settings.env"
INSTALL_DIR=$TM351_INSTALL_DIR
if [ -r "$INSTALL_DIR/instance.env" ]; then
    set -a
    # shellcheck source=/dev/null
    . "$INSTALL_DIR/instance.env"
    set +a
fi
COMPOSE_FILE=$INSTALL_DIR/compose.yaml
case "${TM351_TLS:-}" in
    self-signed | acme) COMPOSE_FILE=$COMPOSE_FILE:$INSTALL_DIR/compose.tls.yaml ;;
esac
export COMPOSE_FILE
exec docker compose --project-directory "$INSTALL_DIR" "$@"
