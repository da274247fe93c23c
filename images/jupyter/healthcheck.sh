#!/bin/bash
# Container health: Jupyter's unauthenticated /api endpoint answers 200. Plain bash, not a second Python:
# starting an interpreter for each check outlasts the timeout on a slow or emulated machine's first boot.
set -euo pipefail

path="${JUPYTER_BASE_URL:-/}"
path="/${path#/}"
path="${path%/}/api"
exec 3<>"/dev/tcp/127.0.0.1/${JUPYTER_PORT:-8888}"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
IFS= read -r -t 2 status <&3
[[ $status == "HTTP/1."?" 200"* ]]
