#!/usr/bin/env bash
# The test command (`npm test`): installs what is missing (Debian packages,
# npm dependencies with Node 24), starts dockerd if it is not running, builds,
# runs the whole suite against real etcd, dockerd and nginx, and stops what it
# started. Extra arguments go to mocha (e.g. `npm test -- --grep lease`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# chromium: the status page is tested in a real headless browser; openssl and
# iproute2: TLS certificates and network namespaces of the chaos scenarios;
# systemd: systemd-analyze verify for the units.
ensure_packages "${BEACON_PACKAGES[@]}" chromium openssl iproute2 systemd
ensure_node_modules
start_dockerd_if_needed
trap stop_dockerd_if_started EXIT

say "building"
npm run --silent build
say "running the tests on node $(node --version)"
node node_modules/.bin/mocha "$@"
