"""`python tasks.py smoke`: the lab end to end, through the gateway, as a device sees it:
list the models, one completion, one streamed chat, one text embedding, one image
embedding, each timed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from homelab.settings import CatalogueModel

# A 2x2 PNG, enough for an image embedding.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMAAAA0EAQHqy3XzAAAAAElFTkSuQmCC")


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str


def _first(models: Sequence[CatalogueModel], kind: str, image: bool = False) -> CatalogueModel | None:
    for model in models:
        if model.kind == kind and (not image or "image" in model.inputs) and (image or model.inputs == ["text"]):
            return model
    return None


def run(base_url: str, token: str, models: Sequence[CatalogueModel], verify: bool | str = True, timeout: float = 600,
        log: Callable[[str], object] = lambda message: None) -> list[Step]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.verify = verify
    steps: list[Step] = []

    def step(name: str, call: Callable[[], tuple[bool, str]]) -> None:
        log(f"{name} ...")
        started = time.monotonic()
        try:
            ok, detail = call()
        except (requests.RequestException, ValueError, KeyError, IndexError) as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
        steps.append(Step(name, ok, time.monotonic() - started, detail))

    def list_models() -> tuple[bool, str]:
        response = session.get(f"{base_url}/models", timeout=30)
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}: {response.text[:120]}"
        served = {m["id"] for m in response.json()["data"]}
        missing = sorted({m.name for m in models} - served)
        return not missing, f"{len(served)} models" + (f", missing {missing}" if missing else "")

    def post(path: str, body: dict[str, Any]) -> Any:
        response = session.post(f"{base_url}{path}", json=body, timeout=timeout)
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}: {response.text[:160]}")
        return response.json()

    step("list models", list_models)
    completion = _first(models, "completion")
    if completion:
        step(f"completion ({completion.name})", lambda: (True, repr(post("/completions", {
            "model": completion.name, "prompt": "The home lab", "max_tokens": 16})["choices"][0]["text"][:60])))
    chat = _first(models, "chat")
    if chat:
        def streamed_chat() -> tuple[bool, str]:
            started, first, pieces = time.monotonic(), None, []
            body: dict[str, Any] = {"model": chat.name, "stream": True, "max_tokens": 32,
                                    "messages": [{"role": "user", "content": "Say hello to the home lab."}]}
            with session.post(f"{base_url}/chat/completions", json=body, stream=True, timeout=timeout) as response:
                if response.status_code != 200:
                    return False, f"HTTP {response.status_code}"
                for line in response.iter_lines():
                    if line.startswith(b"data: {"):
                        first = first or time.monotonic() - started
                        delta = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                        pieces.append(delta)
            return bool(pieces), f"first chunk after {first or 0:.2f}s, {len(pieces)} chunks: {''.join(pieces)[:40]!r}"
        step(f"streamed chat ({chat.name})", streamed_chat)
    def embedding(model: CatalogueModel, body: dict[str, Any]) -> tuple[bool, str]:
        vectors = post("/embeddings", {"model": model.name, "encoding_format": "float", **body})["data"]
        return bool(vectors), f"{len(vectors)} vector(s) of {len(vectors[0]['embedding'])} dimensions"

    text_embedding = _first(models, "embedding")
    if text_embedding:
        step(f"text embedding ({text_embedding.name})", lambda: embedding(text_embedding, {"input": ["a home lab"]}))
    image_embedding = _first(models, "embedding", image=True)
    if image_embedding:
        data_url = "data:image/png;base64," + base64.b64encode(TINY_PNG).decode()
        # vLLM takes images for pooling models as chat-style messages on /v1/embeddings, without
        # an `input` (with one, vLLM embeds that text instead; LiteLLM's guard fills in its null)
        image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url}}]}]}
        step(f"image embedding ({image_embedding.name})", lambda: embedding(image_embedding, image))
    return steps
