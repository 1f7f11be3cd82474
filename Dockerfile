# syntax=docker/dockerfile:1
# One image for every process of the platform: compose.yaml picks the process with `command:`
# (run | command-api | query-api | grpc | worker | projector | migrate | status | rebuild | verify | ...).
# Build: docker build -t logistics .     Try it alone: docker run --rm -p 8000:8000 logistics
# (with no LOGISTICS_DATABASE_URL the default `run` starts its own embedded PostgreSQL inside the container).

# ---- build: a wheel of the project and wheels of everything it depends on -------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only the packaging metadata and the seven packages (templates and static files travel inside `web` as
# package data, see pyproject.toml); .dockerignore keeps everything else out of the build context.
COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY commands/ commands/
COPY projections/ projections/
COPY queries/ queries/
COPY adapters/ adapters/
COPY composition/ composition/
COPY web/ web/
COPY scripts/ scripts/
RUN pip wheel --wheel-dir /wheels .

# ---- runtime: the wheels installed offline; no sources, no build tools, not root ------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOGISTICS_DATA_DIR=/var/lib/logistics \
    LOGISTICS_HOST=0.0.0.0
RUN groupadd --system --gid 10001 logistics \
 && useradd --system --uid 10001 --gid logistics --home-dir /home/logistics --create-home \
        --shell /usr/sbin/nologin logistics \
 && install -d -o logistics -g logistics -m 0700 /var/lib/logistics
# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels logistics
USER logistics:logistics
WORKDIR /home/logistics
# 8000 command API (or the whole platform with `run`), 8001 query API, 50051 gRPC (alone and in `run`),
# 9000 the --health-port of grpc, worker and projector.
EXPOSE 8000 8001 9000 50051
# For the default `run`; compose.yaml gives each process its own check (the slim image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
ENTRYPOINT ["logistics"]
CMD ["run", "--host", "0.0.0.0"]
