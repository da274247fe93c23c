"""Container health: the dashboard answers its unauthenticated health endpoint."""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('DASHBOARD_PORT', '8000')}/dashboard/healthz"
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
