"""Qdrant: collections, deterministic point ids and tenant-filtered reads.

Tenant isolation — one collection per embedding model, shared by all tenants and both entities,
partitioned by payload:

* `tenant_id` has a keyword payload index with `is_tenant=True` (a keyword, so the payload
  holds the string `"42"` for tenant 42: only keyword indexes can be tenant indexes). Qdrant
  then stores each tenant's points together and plans a tenant-filtered search as a scan of
  that tenant's segment, and with `hnsw_config(m=0, payload_m=16)` it builds the HNSW graphs
  per tenant, not globally. This is Qdrant's documented multitenancy layout. A collection per
  tenant instead would give every tenant its own segments, WAL and HNSW index: memory and file
  handles grow with the tenant count (thousands of mostly small tenants), and creating a
  tenant would become a schema change on the vector side.
* Vectors of different models are not comparable and usually differ in dimension, so the
  model (and its dimension) names the collection: `pulse_<model>_<dim>`. A tenant that moves
  to another model is re-embedded into the other collection and its old points are deleted.
* Entities share the collection (an `entity` keyword index filters them): a search across work
  items and pull requests is one query.

Isolation is enforced here, not by callers: every read this module offers takes a tenant id
and always adds it as a `must` condition, and it offers no unfiltered read.

Point ids are uuid5 of (tenant, entity, integration, external id): a redelivered or replayed
request overwrites the same point, never adds one.

In Qdrant local mode (QDRANT_PATH, the embedded mode and the tests) payload indexes do not
exist — the client warns and ignores them, and every search there is an exact scan — so they
are created only against a server.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from pulse.errors import ConfigurationError, FatalError, PulseError, RetriableError
from pulse.settings import Settings

__all__ = [
    "COLLECTION_PREFIX",
    "Point",
    "QdrantStore",
    "collection_name",
    "open_store",
    "point_id",
    "tenant_key",
]

log = logging.getLogger(__name__)

COLLECTION_PREFIX = "pulse"
_POINT_NAMESPACE = uuid.UUID("6f1d2c1e-6a3b-5e0f-9b7a-70756c736576")  # fixed forever
_UNSAFE = re.compile(r"[^a-z0-9]+")
_KEYWORD_INDEXES = ("entity", "external_id")
_INTEGER_INDEXES = ("integration_id",)


def point_id(tenant_id: int, entity: str, integration_id: int, external_id: str) -> str:
    """The point of one fact, the same in every process and every run."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{tenant_id}:{entity}:{integration_id}:{external_id}"))


def collection_name(model: str, dimension: int) -> str:
    slug = _UNSAFE.sub("_", model.lower()).strip("_")
    return f"{COLLECTION_PREFIX}_{slug}_{dimension}"


@dataclass(frozen=True, slots=True)
class Point:
    id: str
    vector: list[float]
    payload: dict[str, Any]


_FAILURES = (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError)


def _failure(exc: Exception, message: str) -> PulseError:
    """Transport failures, timeouts and server 5xx are worth another delivery; a 4xx answer is
    a bug or a misconfiguration that a retry would repeat."""
    status = exc.status_code if isinstance(exc, UnexpectedResponse) else None
    if status is not None and status < 500 and status not in (408, 429):
        return FatalError(f"{message}: HTTP {status}")
    return RetriableError(f"{message}: {exc!r}")


def tenant_key(tenant_id: int) -> str:
    """The payload value of `tenant_id` (a keyword, see the module docstring)."""
    return str(tenant_id)


class QdrantStore:
    """One Qdrant client. Not thread-safe in local mode: one thread at a time."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        options = client.init_options
        self._local = options.get("path") is not None or options.get("location") == ":memory:"
        self._ready: set[str] = set()

    @property
    def client(self) -> QdrantClient:
        return self._client

    @property
    def local(self) -> bool:
        return self._local

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection and its indexes once; an existing one must have `dimension`."""
        if name in self._ready:
            return
        try:
            if not self._client.collection_exists(name):
                self._create(name, dimension)
            else:
                self._check_dimension(name, dimension)
        except _FAILURES as exc:
            raise _failure(exc, f"preparing Qdrant collection {name!r} failed") from exc
        self._ready.add(name)

    def _create(self, name: str, dimension: int) -> None:
        self._client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            hnsw_config=models.HnswConfigDiff(m=0, payload_m=16),
        )
        if self._local:
            return
        self._client.create_payload_index(
            name,
            "tenant_id",
            field_schema=models.KeywordIndexParams(
                type=models.KeywordIndexType.KEYWORD, is_tenant=True
            ),
        )
        for field in _KEYWORD_INDEXES:
            self._client.create_payload_index(
                name, field, field_schema=models.PayloadSchemaType.KEYWORD
            )
        for field in _INTEGER_INDEXES:
            self._client.create_payload_index(
                name, field, field_schema=models.PayloadSchemaType.INTEGER
            )
        log.info("created Qdrant collection", extra={"collection": name, "dimension": dimension})

    def _check_dimension(self, name: str, dimension: int) -> None:
        vectors = self._client.get_collection(name).config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size != dimension:
            raise ConfigurationError(
                f"Qdrant collection {name!r} holds vectors of size {size}, not {dimension}: "
                "two models share a name, or the collection was made by hand"
            )

    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        """Write and wait until applied: the caller records them in PostgreSQL next."""
        if not points:
            return
        structs = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
        try:
            self._client.upsert(collection, points=structs, wait=True)
        except _FAILURES as exc:
            message = f"Qdrant upsert of {len(points)} points into {collection!r} failed"
            raise _failure(exc, message) from exc

    def delete(self, collection: str, point_ids: Sequence[str]) -> None:
        if not point_ids or not self._client.collection_exists(collection):
            return
        try:
            self._client.delete(
                collection, points_selector=models.PointIdsList(points=list(point_ids)), wait=True
            )
        except _FAILURES as exc:
            raise _failure(exc, f"Qdrant could not delete points of {collection!r}") from exc

    def query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        tenant_id: int,
        entity: str | None = None,
        limit: int = 10,
    ) -> list[models.ScoredPoint]:
        """Nearest points of one tenant (the filter is not optional)."""
        if not self._client.collection_exists(collection):
            return []
        try:
            result = self._client.query_points(
                collection,
                query=list(vector),
                query_filter=_tenant_filter(tenant_id, entity),
                limit=limit,
                with_payload=True,
            )
        except _FAILURES as exc:
            raise _failure(exc, f"Qdrant search in {collection!r} failed") from exc
        return list(result.points)

    def count(self, collection: str, *, tenant_id: int, entity: str | None = None) -> int:
        """Points of one tenant (and entity) in the collection, counted exactly."""
        if not self._client.collection_exists(collection):
            return 0
        return self._client.count(
            collection, count_filter=_tenant_filter(tenant_id, entity), exact=True
        ).count

    def retrieve(self, collection: str, ids: Sequence[str], *, tenant_id: int) -> list[Point]:
        """These points with their vectors, only those that belong to `tenant_id`."""
        if not ids or not self._client.collection_exists(collection):
            return []
        records = self._client.retrieve(collection, ids=list(ids), with_vectors=True)
        points = []
        for record in records:
            payload = record.payload or {}
            if payload.get("tenant_id") != tenant_key(tenant_id):
                continue
            vector = record.vector if isinstance(record.vector, list) else []
            points.append(Point(str(record.id), [float(v) for v in vector], payload))  # type: ignore[arg-type]
        return points

    def close(self) -> None:
        self._client.close()


def _tenant_filter(tenant_id: int, entity: str | None) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_key(tenant_id)))
    ]
    if entity is not None:
        must.append(models.FieldCondition(key="entity", match=models.MatchValue(value=entity)))
    return models.Filter(must=must)


def open_store(settings: Settings) -> QdrantStore:
    """A server client for QDRANT_URL, else local mode in QDRANT_PATH."""
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantStore(QdrantClient(url=settings.qdrant_url, api_key=key, timeout=30))
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    # The vectorize step hands the client to its writer thread and back, never concurrently
    # (pipeline._embed_into), which is what SQLite's same-thread check would guard against.
    client = QdrantClient(path=str(settings.qdrant_path), force_disable_check_same_thread=True)
    return QdrantStore(client)
