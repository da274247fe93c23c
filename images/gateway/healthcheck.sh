#!/bin/bash
# Healthy when nginx answers its unauthenticated health endpoint.
exec curl --silent --fail --max-time 2 --output /dev/null "http://127.0.0.1:${GATEWAY_PORT:-8080}/healthz"
