# beacon lbsync with its nginx: watches etcd /services, health-checks the
# endpoints and keeps the upstreams of the nginx that runs in this same
# container in step (tested with `nginx -t`, swapped atomically, reloaded).
#
# Why nginx lives in this image rather than in a second container: lbsync
# validates every candidate config with `nginx -t` against the *full* config
# before it goes live, which needs the nginx binary and the config tree beside
# it. With nginx in another container lbsync could still HUP it through the
# Docker API (--nginx-container), but it could not test anything, and it would
# need the Docker socket. See docker/README.md.
#
# Build (from the prepared context; see docker/README.md):
#   scripts/build-images.sh
# Run:
#   docker run -d --name beacon-lbsync --init -p 8080:8080 \
#     -e BEACON_ETCD=http://10.0.0.5:2379 \
#     -v "$PWD/lbsync.yaml:/etc/beacon/lbsync.yaml:ro" beacon/lbsync:latest

# Pinned by tag; pin by digest for reproducible builds, e.g.
# --build-arg BASE=node:24-bookworm-slim@sha256:<digest>
ARG BASE=node:24-bookworm-slim

# --- stage 1: assemble /app and prove that every command loads with production
# dependencies only (identical in both Dockerfiles, so the second build reuses it)
FROM ${BASE} AS app
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
COPY dist ./dist
COPY docker/healthcheck.mjs docker/lbsync-entrypoint.sh ./docker/
RUN node dist/cli/main.js --version \
 && for cmd in "sidekick docker" "sidekick announce" lbsync discover services; do \
      node dist/cli/main.js $cmd --help >/dev/null || exit 1; done

# --- stage 2: the runtime image, with nginx
FROM ${BASE}
# Debian's nginx-light (1.22 on bookworm) and its Lua module unless the base
# already has an nginx. The Lua module (libnginx-mod-http-lua, with LuaJIT and
# lua-resty-core) is what lets lbsync push endpoint changes without reloads
# (--nginx-mode dynamic, the entrypoint's default when the module is there).
# nginx runs as uid 1000 under its own prefix, which lbsync may write: the main
# config, its beacon.conf, the shadow copies it tests candidates with, and the
# dynamic mode's Lua file, secret and control socket.
RUN command -v nginx >/dev/null 2>&1 \
 || (apt-get update \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light libnginx-mod-http-lua \
     && rm -rf /var/lib/apt/lists/*) \
 && mkdir -p /var/lib/beacon/nginx/conf/conf.d /var/lib/beacon/nginx/logs /var/lib/beacon/nginx/tmp /etc/beacon \
 && chown -R 1000:1000 /var/lib/beacon/nginx

COPY --from=app /app /app

# NODE_OPTIONS: the Node options of the `beacon` executable's first line
# (cli/main.ts says why); set here because the entrypoint runs `node` itself,
# so that any base image works, also one whose env(1) lacks -S.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=4 --disable-sigusr1" \
    BEACON_METRICS_PORT=9465 \
    BEACON_NGINX_PREFIX=/var/lib/beacon/nginx \
    BEACON_NGINX_PID=/var/lib/beacon/nginx/logs/nginx.pid \
    BEACON_NGINX_WORKERS=auto

# 8080: the conventional listen port for the server blocks of lbsync.yaml (a
# non-root nginx; Docker ≥ 20.10 lets it bind < 1024 in its own network
# namespace, but not with --network host).
EXPOSE 8080
USER 1000:1000

# Liveness: lbsync's metrics answer and the nginx master is alive (docker/healthcheck.mjs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]

# The entrypoint writes nginx's main config, starts nginx, then execs
# `node /app/dist/cli/main.js lbsync …` with this nginx's test and reload
# commands. Any other command (`discover web`, `--version`) runs the CLI as is.
ENTRYPOINT ["/app/docker/lbsync-entrypoint.sh"]
CMD ["lbsync"]

# Labels last: they change on every build, and everything above stays cached.
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=unknown
# Cache key of scripts/build-images.sh: context hash + base image id.
ARG BUILD_KEY=none
LABEL beacon.image.key="${BUILD_KEY}" \
      org.opencontainers.image.title="beacon-lbsync" \
      org.opencontainers.image.description="beacon lbsync + nginx: etcd /services → health checks → nginx upstreams" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/beacon/beacon" \
      org.opencontainers.image.documentation="https://github.com/beacon/beacon/blob/main/docker/README.md"
