# beacon sidekick: one per Docker host; follows the Docker events stream and
# publishes the host's containers into etcd /services (and `sidekick announce`,
# the per-unit sidekick, from the same image).
#
# Build it from the prepared context, not from the repository root (the build
# never talks to the npm registry; see docker/README.md):
#   scripts/build-images.sh                       # both images, beacon/*:<version> + :latest
#   scripts/image-context.sh && docker build -f .beacon/image-context/docker/sidekick.Dockerfile .beacon/image-context
#
# Run it (read access to the Docker socket; see docker/README.md for least privilege):
#   docker run -d --name beacon-sidekick --network host --init \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -e BEACON_ETCD=http://10.0.0.5:2379 -e BEACON_NODE="$(hostname -s)" \
#     beacon/sidekick:latest sidekick docker --advertise-ip 10.0.0.7 --metrics-port 9464

# The base is pinned by tag. For byte-for-byte reproducible builds pin it by
# digest as well, e.g. --build-arg BASE=node:24-bookworm-slim@sha256:<digest>
# (`docker image inspect --format '{{index .RepoDigests 0}}' node:24-bookworm-slim`
# prints it once pulled). The tests pass a locally imported base instead.
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

# --- stage 2: the runtime image
FROM ${BASE}
# The application is owned by root and read-only to the process that runs it.
COPY --from=app /app /app
# NODE_OPTIONS: the Node options of the `beacon` executable's first line
# (cli/main.ts says why); set here because the entrypoint runs `node` itself,
# so that any base image works, also one whose env(1) lacks -S.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=4 --disable-sigusr1" \
    BEACON_METRICS_PORT=9464

# uid/gid 1000 is the base image's `node` user; numeric so that runtimes which
# check "non-root" (Kubernetes runAsNonRoot) can tell. Docker socket access is
# granted at run time with --group-add <the socket's gid>, never by running as root.
USER 1000:1000

# Liveness: the metrics endpoint answers from the daemon's own event loop, so a
# wedged or dead daemon fails the check (docker/healthcheck.mjs). Keep
# --metrics-port $BEACON_METRICS_PORT in any command you give, or run with
# --no-healthcheck (the announce units do: several may share a host network).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]

ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["sidekick", "docker", "--metrics-port", "9464"]

# Labels last: they change on every build, and everything above stays cached.
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=unknown
# Cache key of scripts/build-images.sh: context hash + base image id.
ARG BUILD_KEY=none
LABEL beacon.image.key="${BUILD_KEY}" \
      org.opencontainers.image.title="beacon-sidekick" \
      org.opencontainers.image.description="beacon sidekick: publishes a Docker host's containers into etcd /services (docker, announce)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/beacon/beacon" \
      org.opencontainers.image.documentation="https://github.com/beacon/beacon/blob/main/docker/README.md"
