#!/bin/bash
# Build step: tm351-pip PIP-ARGS... runs pip in the virtual environment $VIRTUAL_ENV (made with Debian's
# python3 on first use), trusting the build's CA bundle, for networks that inspect TLS: run it under
# `RUN --mount=type=bind,source=ca-bundle.pem,target=/run/tm351-ca-bundle.pem` (images/trust.py).
set -euo pipefail

: "${VIRTUAL_ENV:?set VIRTUAL_ENV to the virtual environment pip works in}"
if [ -s /run/tm351-ca-bundle.pem ]; then
    export PIP_CERT=/run/tm351-ca-bundle.pem
fi
if [ ! -x "$VIRTUAL_ENV/bin/pip" ]; then
    python3 -m venv "$VIRTUAL_ENV"
fi
exec "$VIRTUAL_ENV/bin/pip" "$@"
