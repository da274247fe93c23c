#!/bin/bash
# Healthy when nginx answers its unauthenticated health endpoint: over HTTPS with the certificate it serves,
# checked for the name it is for, when TLS is on.
if [ "${GATEWAY_TLS:-off}" = on ]; then
    name=${GATEWAY_TLS_NAME:-localhost}
    exec curl --silent --fail --max-time 2 --output /dev/null --cacert /run/gateway/tls/cert.pem \
        --resolve "$name:8443:127.0.0.1" "https://$name:8443/healthz"
fi
exec curl --silent --fail --max-time 2 --output /dev/null "http://127.0.0.1:${GATEWAY_PORT:-8080}/healthz"
