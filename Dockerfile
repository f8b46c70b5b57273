# The pipeline's image: the Dagster code location (default command), and also the webserver and daemon of
# the compose stack (they override the command). Build: docker build --build-arg VERSION=$(git rev-parse --short HEAD) -t octograph-pipeline:dev .
FROM python:3.11-slim

ARG VERSION=dev
ARG UV_VERSION=0.13.9
LABEL org.opencontainers.image.title="octograph-pipeline" \
      org.opencontainers.image.description="Octopus Energy data into InfluxDB, as Dagster assets" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    OCTOGRAPH_VERSION=${VERSION}

RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /opt/octograph
# Dependencies first, exactly as locked, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md dagster.yaml ./
RUN uv sync --frozen --no-dev --no-install-project
COPY octograph_pipeline ./octograph_pipeline
COPY deploy ./deploy
RUN uv sync --frozen --no-dev --no-editable \
    && useradd --create-home --uid 10001 octograph \
    && mkdir -p "$DAGSTER_HOME" \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R octograph "$DAGSTER_HOME"

USER octograph
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "octograph_pipeline.definitions"]
