#!/bin/bash
# Container health: mongod answers a ping on its port (a ping needs no login, and none is made).
set -euo pipefail
exec mongosh --quiet --norc "mongodb://127.0.0.1:27017/admin?serverSelectionTimeoutMS=3000" \
    --eval 'quit(db.adminCommand({ ping: 1 }).ok === 1 ? 0 : 1)'
