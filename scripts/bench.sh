#!/usr/bin/env bash
# `npm run bench`: installs what is missing, starts dockerd if needed, builds,
# and runs every benchmark in sequence (bench/run-all.ts): one table of figure,
# target, measured, met?; bench/results/latest.json and latency.svg.
# Extra arguments go to run-all (e.g. `npm run bench -- --quick`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages "${BEACON_PACKAGES[@]}"
ensure_node_modules
start_dockerd_if_needed bench
trap 'stop_dockerd_if_started bench' EXIT
npm run --silent build
node dist/bench/run-all.js "$@"
