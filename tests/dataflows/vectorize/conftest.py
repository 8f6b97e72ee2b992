"""Fixtures of the vectorize tests: the real local model (loaded once per run: it takes
seconds), Qdrant in local mode on a temporary directory, and tenants on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from qdrant_client import QdrantClient
from sqlalchemy import Engine

from dataflows.vectorize import LocalEmbedder, QdrantStore
from tests.storage.loader.world import World


class CountingEmbedder:
    """The local model, recording every text it is asked to embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    embedder = LocalEmbedder(batch_size=32)
    embedder.load()
    return embedder


@pytest.fixture
def embedder(local_embedder: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(local_embedder)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QdrantStore]:
    store = QdrantStore(QdrantClient(path=str(tmp_path / "qdrant")))
    yield store
    store.close()


@pytest.fixture
def acme(pg_engine: Engine) -> World:
    return World(pg_engine, "Acme")


@pytest.fixture
def globex(pg_engine: Engine) -> World:
    return World(pg_engine, "Globex")
