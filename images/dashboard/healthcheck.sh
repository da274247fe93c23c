#!/bin/bash
# Container health: the dashboard answers its unauthenticated health endpoint. Plain bash, not a second
# Python: inside the 40 MiB limit a second interpreter evicts the server's own pages, and on a cold
# page cache each check then takes longer than its timeout.
set -euo pipefail

exec 3<>"/dev/tcp/127.0.0.1/${DASHBOARD_PORT:-8000}"
printf 'GET /dashboard/healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 2 status <&3
[[ $status == "HTTP/1."?" 200"* ]]
