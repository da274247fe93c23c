#!/bin/bash
# Container health: mongod answers a ping on its port (a ping needs no login, and none is made).
set -euo pipefail
exec timeout 4 mongodb-ping 27017
