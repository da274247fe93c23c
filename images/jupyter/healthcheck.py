"""Container health: Jupyter's unauthenticated /api endpoint answers 200."""

import os
import sys
import urllib.request

port = os.environ.get("JUPYTER_PORT", "8888")
base_url = "/" + os.environ.get("JUPYTER_BASE_URL", "/").strip("/")
url = f"http://127.0.0.1:{port}{base_url.rstrip('/')}/api"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
