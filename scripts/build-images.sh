#!/usr/bin/env bash
# Builds beacon's two images from docker/*.Dockerfile:
#
#   <repo>/sidekick:<version> and :latest   (docker/sidekick.Dockerfile)
#   <repo>/lbsync:<version>   and :latest   (docker/lbsync.Dockerfile, with nginx)
#
# Usage: scripts/build-images.sh [--base IMAGE] [--repo NAME] [--no-build] [--force]
#   --base IMAGE   base image with Node 24 (default: the Dockerfiles' node:24-bookworm-slim);
#                  the tests pass a locally imported one (test/harness/images.ts)
#   --repo NAME    image repository prefix (default: beacon)
#   --no-build     use the current dist/ instead of running `npm run build`
#   --force        rebuild even when the images were built from this very context and base
#
# The build context is prepared by scripts/image-context.sh (production
# node_modules, no registry access needed during `docker build`). An image is
# rebuilt only when the context's hash or the base image changed. Prints each
# image with its size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

base="" repo=beacon force=0 context_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --base) base=${2:?--base needs an image}; shift 2 ;;
    --base=*) base=${1#--base=}; shift ;;
    --repo) repo=${2:?--repo needs a name}; shift 2 ;;
    --repo=*) repo=${1#--repo=}; shift ;;
    --no-build) context_args+=(--no-build); shift ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-images.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

docker info >/dev/null 2>&1 || { echo "build-images.sh: cannot reach dockerd (is it running? are you in the docker group?)" >&2; exit 1; }
if [ -n "$base" ] && ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "build-images.sh: base image $base is not present locally (and may not be pullable here)" >&2
  exit 1
fi

ctx=$(scripts/image-context.sh "${context_args[@]}")
hash=$(cat "$ctx/CONTEXT_HASH")
version=$(node -p 'require(process.argv[1]).version' "$ctx/package.json")
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || revision="$revision-dirty"
base_id=""
[ -n "$base" ] && base_id=$(docker image inspect --format '{{.Id}}' "$base")

for image in sidekick lbsync; do
  tag=$repo/$image:$version
  key="$hash ${base_id:-default}"
  if [ "$force" = 0 ] && [ "$(docker image inspect --format '{{index .Config.Labels "beacon.image.key"}}' "$tag" 2>/dev/null)" = "$key" ]; then
    say "$tag is up to date (context $hash)"
  else
    say "building $tag${base:+ on $base}"
    args=(--file "$ctx/docker/$image.Dockerfile" --tag "$tag" --tag "$repo/$image:latest"
      --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" --build-arg "BUILD_KEY=$key")
    [ -n "$base" ] && args+=(--build-arg "BASE=$base")
    # The legacy builder and BuildKit both take these flags; no --pull: nothing can be pulled here.
    docker build "${args[@]}" "$ctx" >&2
  fi
  docker tag "$tag" "$repo/$image:latest"
done

say "images"
for image in sidekick lbsync; do
  docker image inspect --format "{{index .RepoTags 0}}  {{.Size}}" "$repo/$image:$version" \
    | awk '{ printf "%-32s %6.1f MB\n", $1, $2 / 1e6 }'
done
