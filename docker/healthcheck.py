"""Docker healthcheck of the web role: GET /healthz (database, cache, broker) must answer 200.

Sent with the first allowed host name, so that ALLOWED_HOSTS does not refuse it; /healthz is exempt
from the HTTPS redirect. Standard library only, no curl in the slim image.
"""

import http.client
import os
import sys

host = (os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip() or "localhost").lstrip(".")
if host == "*":
    host = "localhost"
connection = http.client.HTTPConnection("127.0.0.1", int(os.environ.get("PORT", "8000")), timeout=8)
try:
    connection.request("GET", "/healthz", headers={"Host": host})
    response = connection.getresponse()
    body = response.read(500).decode(errors="replace")
except OSError as exc:
    print(f"healthz: {exc}")
    sys.exit(1)
print(f"healthz: {response.status} {body}")
sys.exit(0 if response.status == 200 else 1)
