"""Open WebUI as the deploy configured it (its HelmChart's values as they landed on the
GPU-node lab host), against the gateway harness's LiteLLM door and the vLLM STAND-IN.
Open WebUI itself does not run here (its image is not installable on this machine); its
requests are made as Open WebUI 0.11.0's own code makes them, with the settings it would
read from its environment."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from tests.support import landed_manifests

pytestmark = pytest.mark.lab


def open_webui_env(lab) -> dict[str, dict]:
    (chart,) = [o for o in landed_manifests(lab)["homelab-open-webui.yaml"][1] if o["kind"] == "HelmChart"]
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    return {e["name"]: e for e in values["extraEnvVars"]}


def test_a_document_upload_embeds_through_litellm(lab, gateway):
    """Document search (RAG_EMBEDDING_ENGINE=openai): Open WebUI 0.11.0 embeds an upload's
    chunks with retrieval/utils.py agenerate_openai_batch_embeddings: POST
    {RAG_OPENAI_API_BASE_URL}/embeddings, {"input": [chunks], "model": RAG_EMBEDDING_MODEL},
    `Authorization: Bearer {RAG_OPENAI_API_KEY}`. Before this project set them, those were
    api.openai.com and an empty key: every upload failed."""
    env = open_webui_env(lab)
    assert env["RAG_EMBEDDING_ENGINE"]["value"] == "openai"
    base = urlsplit(env["RAG_OPENAI_API_BASE_URL"]["value"])
    assert (base.hostname, base.port, base.path) == ("litellm.ai.svc.cluster.local", 4000, "/v1")
    ref = env["RAG_OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]
    key = gateway.deployed.secrets[ref["name"]][ref["key"]]
    model = env["RAG_EMBEDDING_MODEL"]["value"]
    batch = int(env["RAG_EMBEDDING_BATCH_SIZE"]["value"])
    chunks = [f"chunk {i} of an uploaded document" for i in range(batch + 3)]

    async def embed_like_open_webui():
        # one request per batch, as Open WebUI sends them (in its own aiohttp session)
        async with aiohttp.ClientSession() as session:
            results = []
            for start in range(0, len(chunks), batch):
                async with session.post(f"{gateway.litellm_url}{base.path}/embeddings",
                                        json={"input": chunks[start:start + batch], "model": model},
                                        headers={"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {key}"}) as reply:
                    results.append((reply.status, await reply.json()))
            return results

    before = len(gateway.upstream_requests())
    results = asyncio.run(embed_like_open_webui())
    assert [status for status, _ in results] == [200, 200]
    assert sum(len(answer["data"]) for _, answer in results) == len(chunks)
    reached = [r for r in gateway.upstream_requests()[before:] if r["path"] == "/v1/embeddings"]
    assert [r["body"]["model"] for r in reached] == [model, model] and reached[0]["body"]["input"] == chunks[:batch]
