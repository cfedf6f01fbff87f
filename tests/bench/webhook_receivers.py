"""Loopback webhook receivers for tests/bench/test_webhook_fanout.py, in a process of their own (so the
receivers do not compete with the sender for its GIL): `python -m tests.bench.webhook_receivers N` starts N
HTTP servers on 127.0.0.1, prints their ports as one JSON line, answers every POST 204 after reading its
body, and stops when its stdin closes."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def main(count: int) -> None:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Receiver) for _ in range(count)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps([server.server_address[1] for server in servers]), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main(int(sys.argv[1]))
