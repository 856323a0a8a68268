#!/usr/bin/env bash
# `npm run chaos`: installs what is missing, starts dockerd if needed, builds,
# and runs every chaos scenario (network namespaces, a 3-member etcd, load
# through nginx); prints the table and writes bench/results/chaos.json.
# Needs root (ip netns, namespace dockerds). Extra arguments go to the runner
# (e.g. `npm run chaos -- --short traffic`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages "${BEACON_PACKAGES[@]}" iproute2
ensure_node_modules
start_dockerd_if_needed chaos
trap 'stop_dockerd_if_started chaos' EXIT
npm run --silent build
node dist/test/chaos/run.js "$@"
