# The Pulse ETL application image: every process (web, scheduler, extract, dataflow shards,
# vectorize) runs from it with a different `pulse ...` command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app

# CPU-only torch first, so the embedding extra does not pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY pulse ./pulse
COPY connectors ./connectors
COPY dataflows ./dataflows
COPY storage ./storage
COPY web ./web
RUN pip install ".[embed]"

# The recovery directory exists in the image, owned by pulse: a new named volume mounted on it
# (docker-compose.yml, one per dataflow shard) takes over that ownership.
RUN useradd --create-home --uid 10001 pulse && mkdir -p /var/lib/pulse/recovery \
    && chown -R pulse /var/lib/pulse
USER pulse
ENV STATE_DIR=/var/lib/pulse
ENTRYPOINT ["pulse"]
CMD ["--help"]
