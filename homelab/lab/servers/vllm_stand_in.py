"""STAND-IN for vLLM (no GPU here): a small OpenAI-compatible server for the gateway tests.

    python openai_upstream.py ADDRESS PORT API_KEY MODEL [MODEL ...]

Answers /v1/models, /v1/chat/completions (streamed or not), /v1/completions and
/v1/embeddings for the given model names, checks vLLM's API key, and records every
request; GET /_requests returns the record. A streamed answer sends its chunks one
second apart, so a test can tell a gateway that passes them on at once from one that
buffers; with stream_options.include_usage the last chunk carries the usage, as vLLM's.
Every answer uses 9 tokens (5 prompt, 4 completion). A chat whose last message is
"homelab-test: fail" gets a 500 with a Python traceback in its body; streamed,
"homelab-test: break the stream" gets one chunk and then garbage before the connection
drops: what a crashing engine does.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADDRESS, PORT, API_KEY, MODELS = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
CHUNKS = ["Hello", " from", " the", " stand-in"]
RECORD: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without this, Nagle's algorithm and the
    # client's delayed ACK add some 40 ms to every answer (vLLM's server has no such delay)
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._json(401, {"error": {"message": "stand-in: wrong vLLM API key", "code": "invalid_api_key"}})
            return False
        return True

    def do_GET(self) -> None:
        if self.path == "/_requests":
            return self._json(200, {"requests": RECORD})
        if not self._authorized():
            return None
        if self.path == "/v1/models":
            return self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "stand-in"}
                                                               for m in MODELS]})
        return self._json(404, {"error": {"message": "stand-in: unknown path"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        RECORD.append({"path": self.path, "headers": dict(self.headers), "body": body, "time": time.time()})
        if not self._authorized():
            return None
        model = body.get("model")
        last = ((body.get("messages") or [{}])[-1] or {}).get("content")
        if last == "homelab-test: fail":
            return self._json(500, {"error": {"message": "Traceback (most recent call last):\n  File \"/vllm/"
                                                         "engine.py\", line 1, in <module>\nRuntimeError: boom"}})
        if self.path == "/v1/chat/completions":
            if body.get("stream"):
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return self._stream(model, broken=last == "homelab-test: break the stream", usage=usage,
                                    pieces=CHUNKS * 3 if last == "homelab-test: a long stream" else CHUNKS)
            return self._json(200, {"id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                                    "model": model, "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                        "role": "assistant", "content": "".join(CHUNKS)}}],
                                    "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
        if self.path == "/v1/completions":
            return self._json(200, {"id": "cmpl-standin", "object": "text_completion", "created": int(time.time()),
                                    "model": model, "choices": [{"index": 0, "text": "".join(CHUNKS),
                                                                 "finish_reason": "stop", "logprobs": None}],
                                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
        if self.path == "/v1/embeddings":
            # vLLM 0.11.1 takes the completion form whenever `input` is set (its request union),
            # the chat form (messages: an image for CLIP) only when input is absent or null
            inputs = body.get("input") if body.get("input") is not None else body.get("messages")
            if not inputs:
                return self._json(400, {"error": {"message": "stand-in: neither input nor messages"}})
            inputs = inputs if isinstance(inputs, list) and body.get("input") is not None else [inputs]
            return self._json(200, {"object": "list", "model": model, "usage": {"prompt_tokens": 2, "total_tokens": 2},
                                    "data": [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1)] * 8}
                                             for i, _ in enumerate(inputs)]})
        return self._json(404, {"error": {"message": "stand-in: unknown path"}})

    def _stream(self, model: str, broken: bool = False, usage: bool = False, pieces: list[str] = CHUNKS) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        for piece in pieces:
            chunk = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            send(f"data: {json.dumps(chunk)}\n\n")
            if broken:
                send("data: {\"choices\": [{\"delta\": \n\n")
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            time.sleep(1.0)
        done = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        send(f"data: {json.dumps(done)}\n\n")
        if usage:  # vLLM's last chunk with stream_options.include_usage: no choices, the usage
            send("data: " + json.dumps({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                                        "created": int(time.time()), "model": model, "choices": [],
                                        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
                 + "\n\n")
        send("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


if __name__ == "__main__":
    ThreadingHTTPServer((ADDRESS, PORT), Handler).serve_forever()
