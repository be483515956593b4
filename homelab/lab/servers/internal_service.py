"""STAND-IN for a service inside the cluster or the LAN that no client may reach through
the gateway (a metrics endpoint, an admin API, another tenant's model server): it answers
anything and records every request, so a test can prove nothing was ever sent to it.

    python internal_service.py ADDRESS PORT REDIRECT_TO

GET /_requests returns the record (and is not recorded). /redirect answers 302 to
REDIRECT_TO: a URL that looks harmless and leads somewhere else.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADDRESS, PORT, REDIRECT_TO = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RECORD: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        if self.path == "/_requests":
            return self._answer(200, json.dumps({"requests": RECORD}).encode())
        length = int(self.headers.get("Content-Length") or 0)
        RECORD.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                       "body": self.rfile.read(length).decode("latin-1") if length else ""})
        if self.path.startswith("/redirect"):
            return self._answer(302, b"", Location=REDIRECT_TO)
        # a JSON answer API clients would take as a model server's
        return self._answer(200, json.dumps({"internal": True, "object": "list", "data": []}).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


if __name__ == "__main__":
    ThreadingHTTPServer((ADDRESS, PORT), Handler).serve_forever()
