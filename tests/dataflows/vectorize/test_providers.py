"""Embedders: the local model gives real, meaningful 384-dimension vectors; the OpenAI-compatible
client sends what the API expects and turns every bad answer into an error, never a vector."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from dataflows.vectorize import LocalEmbedder, OpenAICompatibleEmbedder, check_vectors
from dataflows.vectorize.embedders import TenantEmbedders, embedder_for_integration
from pulse.errors import ConfigurationError, FatalError, RetriableError
from storage.db import transaction
from storage.repositories import integrations
from tests.storage.loader.world import CIPHER, World

KEY = "sk-test-0123456789"


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def test_the_local_model_embeds_meaning(local_embedder: LocalEmbedder) -> None:
    login, sso, budget = local_embedder.embed(
        [
            "Users cannot log in: the login page rejects valid passwords",
            "Authentication fails on sign-in with correct credentials",
            "Prepare the quarterly marketing budget spreadsheet",
        ]
    )
    assert len(login) == local_embedder.dimension == 384
    assert math.isclose(_cosine(login, login), 1.0, rel_tol=1e-5)
    assert _cosine(login, sso) > _cosine(login, budget) + 0.2
    assert local_embedder.embed([]) == []


@pytest.mark.parametrize(
    ("vectors", "texts", "complaint"),
    [
        ([[0.1, 0.2]], 2, "1 vectors for 2 texts"),
        ([[0.1, 0.2, 0.3]], 1, "dimension 3 (expected 2)"),
        ([[0.0, 0.0]], 1, "zero vector"),
        ([[float("nan"), 1.0]], 1, "non-finite"),
    ],
)
def test_check_vectors_refuses_anything_but_one_usable_vector_per_text(
    vectors: list[list[float]], texts: int, complaint: str
) -> None:
    with pytest.raises(FatalError, match=re.escape(complaint)):
        check_vectors(vectors, texts, 2, "m")


def _endpoint(handler: httpx.MockTransport) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder(
        base_url="https://embed.example/v1",
        api_key=SecretStr(KEY),
        model="text-embedding-3-small",
        dimension=3,
        batch_size=2,
        transport=handler,
    )


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


@pytest.fixture
def answering(seen: list[httpx.Request]) -> Iterator[OpenAICompatibleEmbedder]:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        texts = json.loads(request.content)["input"]
        data = [
            {"object": "embedding", "index": n, "embedding": [float(len(t)), 1.0, float(n)]}
            for n, t in enumerate(texts)
        ]
        return httpx.Response(200, json={"object": "list", "data": data[::-1]})  # any order

    embedder = _endpoint(httpx.MockTransport(answer))
    yield embedder
    embedder.close()


def test_the_endpoint_gets_the_model_the_key_and_batches_and_order_is_kept(
    answering: OpenAICompatibleEmbedder, seen: list[httpx.Request]
) -> None:
    vectors = answering.embed(["a", "bb", "ccc"])

    assert vectors == [[1.0, 1.0, 0.0], [2.0, 1.0, 1.0], [3.0, 1.0, 0.0]]
    assert [str(r.url) for r in seen] == ["https://embed.example/v1/embeddings"] * 2
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(seen[0].content) == {
        "model": "text-embedding-3-small",
        "input": ["a", "bb"],
        "encoding_format": "float",
    }


@pytest.mark.parametrize(
    ("response", "error", "complaint"),
    [
        (httpx.Response(500, text="upstream down"), RetriableError, "HTTP 500"),
        (httpx.Response(429, text="slow down"), RetriableError, "429"),
        (httpx.Response(401, text=f"bad key {KEY}"), FatalError, "rejected the API key"),
        (
            httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 2.0]}]}),
            FatalError,
            "dimension 2",
        ),
        (httpx.Response(200, json={"data": []}), FatalError, "0 vectors for 1 texts"),
        (httpx.Response(200, json={"error": "no data"}), RetriableError, "without a `data` list"),
        (httpx.Response(200, text="<html>"), RetriableError, "invalid JSON"),
    ],
)
def test_a_bad_answer_is_an_error_never_a_vector(
    response: httpx.Response, error: type[Exception], complaint: str
) -> None:
    embedder = _endpoint(httpx.MockTransport(lambda request: response))
    try:
        with pytest.raises(error, match=re.escape(complaint)) as caught:
            embedder.embed(["one text"])
    finally:
        embedder.close()
    assert KEY not in str(caught.value)


def test_a_timeout_is_retriable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    embedder = _endpoint(httpx.MockTransport(hang))
    try:
        with pytest.raises(RetriableError, match="did not answer in time"):
            embedder.embed(["one text"])
    finally:
        embedder.close()


@pytest.mark.integration
def test_an_embedding_integration_needs_model_and_dimension(pg_engine: Engine) -> None:
    world = World(pg_engine)
    with transaction(world.factory) as session:
        integration = integrations.create_integration(
            session,
            world.tenant_id,
            name="Embeddings",
            provider="embedding",
            base_url="https://embed.example/v1",
            credentials={"api_key": KEY},
            settings={"model": "text-embedding-3-small"},
            cipher=CIPHER,
        )
    with pytest.raises(ConfigurationError, match="'dimension'") as caught:
        embedder_for_integration(integration, CIPHER)
    assert KEY not in str(caught.value)


@pytest.mark.integration
def test_each_tenant_gets_its_own_embedder(
    pg_engine: Engine, local_embedder: LocalEmbedder
) -> None:
    with_endpoint, without = World(pg_engine, "Acme"), World(pg_engine, "Globex")
    with transaction(with_endpoint.factory) as session:
        integrations.create_integration(
            session,
            with_endpoint.tenant_id,
            name="Embeddings",
            provider="embedding",
            base_url="https://embed.example/v1",
            credentials={"api_key": KEY},
            settings={"model": "text-embedding-3-small", "dimension": 1536},
            cipher=CIPHER,
        )

    auto = TenantEmbedders(with_endpoint.factory, CIPHER, local=local_embedder)
    forced = TenantEmbedders(with_endpoint.factory, CIPHER, provider="openai")
    local_only = TenantEmbedders(
        with_endpoint.factory, None, provider="local", local=local_embedder
    )
    try:
        chosen = auto.for_tenant(with_endpoint.tenant_id)
        assert (chosen.model, chosen.dimension) == ("text-embedding-3-small", 1536)
        assert auto.for_tenant(with_endpoint.tenant_id) is chosen  # one client per integration
        assert auto.for_tenant(without.tenant_id) is local_embedder
        assert local_only.for_tenant(with_endpoint.tenant_id) is local_embedder
        with pytest.raises(ConfigurationError, match="no enabled embedding integration"):
            forced.for_tenant(without.tenant_id)
    finally:
        auto.close()
        forced.close()
