#!/bin/bash
# Container health: OpenRefine answers its version command (a GET that needs no project and no token).
set -euo pipefail
exec curl --fail --silent --show-error --max-time 4 --output /dev/null \
    "http://127.0.0.1:${OPENREFINE_PORT:-3333}/command/core/get-version"
