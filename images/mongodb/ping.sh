#!/bin/bash
# Installed as mongodb-ping. `mongodb-ping [PORT]`: exit 0 when the mongod on 127.0.0.1:PORT (default
# 27017) answers a ping. A ping needs no login. It is one wire-protocol message sent from bash: the
# health check runs every few seconds, and starting a MongoDB client (a Node.js program) that often
# would take a good part of a small machine's CPU.
set -euo pipefail

port=${1:-27017}
# OP_MSG (opCode 2013), requestID 1, one body section: the BSON document {ping: 1, $db: "admin"} ($ is \x24).
message='\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00'
message+='\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02\x24db\x00\x06\x00\x00\x00admin\x00\x00'

{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo "nothing answers on 127.0.0.1:$port"; exit 1; }
printf '%b' "$message" >&3
length=$(head -c 4 <&3 | od -An -tu4 | tr -d ' ')
[[ $length =~ ^[0-9]+$ ]] && [ "$length" -gt 16 ] && [ "$length" -lt 65536 ] || exit 1
reply=$(head -c "$((length - 4))" <&3 | od -An -v -tx1 | tr -d ' \n')
exec 3>&-
# The reply answers request 1 with an OP_MSG whose document holds ok: 1.0 (a double).
[ "${reply:8:8}" = 01000000 ] && [ "${reply:16:8}" = dd070000 ] && [[ $reply == *016f6b00000000000000f03f* ]]
