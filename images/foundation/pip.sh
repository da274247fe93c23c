#!/bin/bash
# Build step: tm351-pip PIP-ARGS... runs pip in the virtual environment $VIRTUAL_ENV (made with Debian's
# python3 on first use), trusting the build's optional "cacert" secret, a CA bundle for networks that
# inspect TLS. Run it under `RUN --mount=type=secret,id=cacert`.
set -euo pipefail

: "${VIRTUAL_ENV:?set VIRTUAL_ENV to the virtual environment pip works in}"
if [ -s /run/secrets/cacert ]; then
    export PIP_CERT=/run/secrets/cacert
fi
if [ ! -x "$VIRTUAL_ENV/bin/pip" ]; then
    python3 -m venv "$VIRTUAL_ENV"
fi
exec "$VIRTUAL_ENV/bin/pip" "$@"
