"""STAND-INS for what the Le Potato's watcher talks to beyond the lab's hosts: there is no
ntfy server and no in-cluster Prometheus here.

    python watcher_stand_ins.py ntfy ADDRESS PORT
    python watcher_stand_ins.py prometheus ADDRESS PORT SERIES_FILE

ntfy: accepts a publish (POST /<topic>, with ntfy's query parameters such as
?template=alertmanager&priority=low) and records it: path, query, Authorization and the
body as JSON. prometheus: answers GET /federate with the text in SERIES_FILE (the test
writes what the cluster would report) and records each request. Both: GET /_requests
returns the record (and is not recorded).
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KIND, ADDRESS, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
SERIES_FILE = sys.argv[4] if KIND == "prometheus" else None
RECORD: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        if self.path == "/_requests":
            return self._answer(200, json.dumps({"requests": RECORD}).encode())
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        entry = {"at": time.time(), "method": self.command, "path": url.path, "query": parse_qs(url.query),
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            entry["json"] = json.loads(body) if body else None
        except ValueError:
            entry["body"] = body
        RECORD.append(entry)
        if KIND == "ntfy" and self.command == "POST":
            return self._answer(200, json.dumps({"id": str(len(RECORD)), "topic": url.path[1:]}).encode())
        if KIND == "prometheus" and self.command == "GET" and url.path == "/federate" and SERIES_FILE:
            with open(SERIES_FILE, "rb") as handle:
                return self._answer(200, handle.read(), "text/plain; version=0.0.4")
        return self._answer(404, b'{"error":"not here"}')

    do_GET = do_POST = _handle


if __name__ == "__main__":
    ThreadingHTTPServer((ADDRESS, PORT), Handler).serve_forever()
