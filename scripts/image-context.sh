#!/usr/bin/env bash
# Prepares the Docker build context for beacon's images in .beacon/image-context/
# (or $BEACON_IMAGE_CONTEXT):
#
#   package.json, package-lock.json   what the image runs, and its version
#   dist/                             the compiled CLI (without dist/test, dist/bench)
#   node_modules/                     production dependencies only
#   docker/                           the Dockerfiles and the scripts they copy
#
# Why a prepared context: `docker build` RUN steps on the machines we build on
# cannot reach the npm registry, so the image never runs `npm ci`. Instead the
# project's own node_modules is copied and pruned here with
# `npm prune --omit=dev --ignore-scripts`, which only deletes (no network).
# The context's hash is written to CONTEXT_HASH so callers can skip a rebuild
# when nothing changed.
#
#   scripts/image-context.sh            build (npm run build), then assemble
#   scripts/image-context.sh --no-build assemble from the current dist/
#
# Prints the context directory on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

build=1
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image-context.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

[ -d node_modules ] || { echo "image-context.sh: node_modules is missing; run npm ci first" >&2; exit 1; }
# npm run puts node_modules/.bin (Node 24) first on PATH for the build.
export PATH="$PWD/node_modules/.bin:$PATH"

if [ "$build" = 1 ]; then
  say "building (npm run build)"
  npm run --silent build >&2
fi
[ -f dist/cli/main.js ] || { echo "image-context.sh: dist/cli/main.js is missing; build first" >&2; exit 1; }

CTX=${BEACON_IMAGE_CONTEXT:-$PWD/.beacon/image-context}
say "assembling the image context in $CTX"
rm -rf "$CTX"
mkdir -p "$CTX"
cp package.json package-lock.json "$CTX/"
# dist/ without the tests and benchmarks.
mkdir -p "$CTX/dist"
for d in dist/*; do
  case ${d#dist/} in test|bench) continue ;; esac
  cp -a "$d" "$CTX/dist/"
done
cp -a docker "$CTX/docker"

say "copying node_modules and pruning it to production dependencies (no network)"
cp -a node_modules "$CTX/node_modules"
# --offline: prune only deletes, and must never try the registry.
(cd "$CTX" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error >&2)
# Prove it: nothing the lock file marks dev-only may be left (typescript, mocha,
# the node package with its 120 MB binary, …).
left=$(cd "$CTX" && node -e '
  const fs = require("node:fs");
  const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
  const dev = Object.entries(lock.packages).filter(([p, m]) => p && m.dev).map(([p]) => p);
  console.log(dev.filter((p) => fs.existsSync(p)).join(" "));
')
[ -z "$left" ] || { echo "image-context.sh: dev-only packages survived the prune: $left" >&2; exit 1; }
rm -rf "$CTX/node_modules/.bin"
# Nothing at run time reads type declarations, TypeScript sources, source maps
# of dependencies, docs or CI files; dropping them halves the file count, which
# is what `docker build` spends its time on (sending the context, COPY).
# Licence files stay.
find "$CTX/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \
  -o -name '*.md' -o -name '*.markdown' -o -name '.travis.yml' -o -name '.eslintrc*' -o -name '.editorconfig' \) \
  ! -iname 'license*' ! -iname 'licence*' -delete

# One hash over the whole context (names and bytes), for cache checks.
hash=$(cd "$CTX" && find . -type f ! -name CONTEXT_HASH -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)
echo "$hash" >"$CTX/CONTEXT_HASH"
say "context ready: $(du -sh "$CTX" | cut -f1), node_modules $(du -sh "$CTX/node_modules" | cut -f1), hash $hash"
echo "$CTX"
