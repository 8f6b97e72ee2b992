"""The vectorize stage: embed work items and pull requests whose text changed and keep them
in Qdrant, tenant-isolated, for semantic search.

`vectorize_facts` is the whole step without a queue (embedded mode, demo, benches);
`VectorizeWorker` runs it behind the `etl.vectorize` quorum queue (`pulse vectorize`);
`search` and `vector_coverage` serve the web UI.
"""

from dataflows.vectorize.embedders import EmbeddingSettings, TenantEmbedders
from dataflows.vectorize.pipeline import VectorizeResult, vectorize_facts
from dataflows.vectorize.providers import (
    Embedder,
    LocalEmbedder,
    OpenAICompatibleEmbedder,
    check_vectors,
)
from dataflows.vectorize.search import Coverage, SearchHit, search, vector_coverage
from dataflows.vectorize.store import QdrantStore, collection_name, open_store, point_id
from dataflows.vectorize.worker import VectorizeWorker

__all__ = [
    "Coverage",
    "Embedder",
    "EmbeddingSettings",
    "LocalEmbedder",
    "OpenAICompatibleEmbedder",
    "QdrantStore",
    "SearchHit",
    "TenantEmbedders",
    "VectorizeResult",
    "VectorizeWorker",
    "check_vectors",
    "collection_name",
    "open_store",
    "point_id",
    "search",
    "vector_coverage",
    "vectorize_facts",
]
