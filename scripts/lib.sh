# Shared by scripts/test.sh, scripts/demo.sh and the benchmarks: install what is
# missing, start what is not running, and remember what we started so that only
# that is stopped again. Safe on a machine where dockerd/etcd already run.

# libnginx-mod-http-lua: lbsync's dynamic mode (endpoint changes without nginx reloads).
BEACON_PACKAGES=(docker.io etcd-server etcd-client nginx libnginx-mod-http-lua busybox-static)
BEACON_STATE=${BEACON_STATE:-$PWD/.beacon}
mkdir -p "$BEACON_STATE"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ensure_packages PKG...: apt-get install the ones not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # policy-rc.d keeps the packages from starting system services of their own.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$BEACON_STATE/apt.log" 2>&1 \
    || { cat "$BEACON_STATE/apt.log" >&2; return 1; }
  as_root rm -f /usr/sbin/policy-rc.d
}

# ensure_node_modules: npm ci when node_modules is missing or older than the lock file.
ensure_node_modules() {
  if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies (npm ci; Node 24 comes with them)"
    npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'nodedir' >&2 || true
    [ -x node_modules/.bin/node ] || { echo "npm ci did not install Node 24 (node_modules/.bin/node)" >&2; return 1; }
  fi
  export PATH="$PWD/node_modules/.bin:$PATH"
}

# start_dockerd_if_needed [OWNER]: starts dockerd (ports published on 127.0.0.1 by
# default) unless one answers; OWNER (test, demo, …) names the pid file so each
# script stops only the dockerd it started itself.
start_dockerd_if_needed() {
  DOCKERD_OWNER=${1:-test}
  if docker info >/dev/null 2>&1; then return 0; fi
  say "starting dockerd"
  as_root sh -c "setsid dockerd --ip 127.0.0.1 >'$BEACON_STATE/dockerd.log' 2>&1 & echo \$! >'$BEACON_STATE/dockerd-$DOCKERD_OWNER.pid'"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "dockerd did not start; see $BEACON_STATE/dockerd.log" >&2
  tail -20 "$BEACON_STATE/dockerd.log" >&2
  return 1
}

# stop_dockerd_if_started [OWNER]: stops the dockerd this script started, by its pid.
stop_dockerd_if_started() {
  local pidfile="$BEACON_STATE/dockerd-${1:-${DOCKERD_OWNER:-test}}.pid"
  [ -f "$pidfile" ] || return 0
  local pid; pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}
