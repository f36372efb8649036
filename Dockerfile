# livewatch: the dashboard, /api and /ws in one process.
#   docker build -t livewatch .
#   docker run -p 8000:8000 -v "$PWD/agents:/agents:ro" -e LIVEWATCH_TOKEN=change-me livewatch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVEWATCH_AGENTS_DIR=/agents \
    LIVEWATCH_DB=/data/livewatch.db \
    LIVEWATCH_PORT=8000

RUN useradd --create-home --uid 10001 livewatch
WORKDIR /app
COPY pyproject.toml README.md ./
COPY livewatch ./livewatch
COPY pages ./pages
COPY agents ./agents
# The package itself, from this folder (nothing to pin), with the PostgreSQL driver for --db.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[postgres]" && mkdir -p /agents /data && chown livewatch /agents /data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER 10001
# /data holds the event database (agent events and transcript offsets): keep it across runs.
VOLUME ["/agents", "/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["serve"]
