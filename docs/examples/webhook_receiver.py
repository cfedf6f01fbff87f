"""A Credence webhook receiver: verifies each delivery's Standard Webhooks signature, answers at once, and
handles each webhook-id once (deliveries are at least once: a retry or a redelivery repeats the id).

    pip install standardwebhooks==1.3.0
    WEBHOOK_SECRET=whsec_... python docs/examples/webhook_receiver.py --port 8765

During a secret's rotation give both secrets, space-separated (WEBHOOK_SECRET="whsec_new whsec_old"): a
delivery then carries a signature by each, and either verifies. Each verified event is printed as one JSON
line on stdout. Answers: 204 handled (or already handled), 401 a signature that does not verify (Credence
retries it, so a secret you have not installed yet costs nothing), 400 a body that is not JSON.
Only the standard library and standardwebhooks; put it behind your https proxy in production.
"""

import argparse
import contextlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024


def make_handler(verifiers: list[Webhook], out=sys.stdout):
    handled: set[str] = set()
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413)
            body = self.rfile.read(length)  # the exact bytes: the signature covers them
            headers = {key.lower(): value for key, value in self.headers.items()}
            event = None
            for verifier in verifiers:
                try:
                    event = verifier.verify(body, headers)
                    break
                except WebhookVerificationError:
                    continue
                except ValueError:
                    return self._answer(400)
            if event is None:
                return self._answer(401)
            with lock:
                first_time = headers["webhook-id"] not in handled
                handled.add(headers["webhook-id"])
            if first_time:
                # Do the work elsewhere (a queue) in a real receiver: answer within Credence's timeout (5 s).
                out.write(json.dumps({"webhook_id": headers["webhook-id"], **event}) + "\n")
                out.flush()
            return self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    secrets = os.environ.get("WEBHOOK_SECRET", "").split()
    if not secrets:
        sys.exit("Set WEBHOOK_SECRET to the whsec_... secret shown when you created the webhook.")
    server = ThreadingHTTPServer((options.host, options.port), make_handler([Webhook(s) for s in secrets]))
    print(f"listening on http://{options.host}:{server.server_address[1]}/", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
