#!/bin/bash
# Container health: the server accepts TCP connections on its port (no login needed, none made).
set -euo pipefail
exec pg_isready --quiet --host=127.0.0.1 --port=5432 --dbname=tm351 --timeout=2
