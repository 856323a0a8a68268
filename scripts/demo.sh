#!/usr/bin/env bash
# beacon's main job, locally: the seeds' walkthrough on one machine.
#
#   npm run demo            install what is missing, start etcd, dockerd, nginx,
#                           the sidekick and lbsync, then play the walkthrough
#                           (database announced, web@1..3, nginx in front, a
#                           container killed, scale up) and leave it running
#   npm run demo -- --down  remove everything the demo started
#
# Ctrl-C during the walkthrough also removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DEMO=$BEACON_STATE/demo
HTTP_PORT=${BEACON_DEMO_PORT:-8080}
ETCD_PORT=${BEACON_DEMO_ETCD_PORT:-2379}
IMAGE=beacon-demo/web:latest
LABEL=beacon.demo=1

pidfile() { echo "$DEMO/$1.pid"; }
is_running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

# start_bg NAME CMD...: starts a background process of the demo, logs in $DEMO/NAME.log.
start_bg() {
  local name=$1; shift
  setsid "$@" >"$DEMO/$name.log" 2>&1 < /dev/null &
  echo $! >"$(pidfile "$name")"
}

stop_bg() {
  local name=$1 pid
  [ -f "$(pidfile "$name")" ] || return 0
  pid=$(cat "$(pidfile "$name")")
  rm -f "$(pidfile "$name")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

down() {
  say "removing everything the demo started"
  if docker info >/dev/null 2>&1; then
    local ids; ids=$(docker ps -aq --filter "label=$LABEL")
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
  fi
  for p in announce-mongodb lbsync sidekick nginx etcd; do stop_bg "$p"; done
  stop_dockerd_if_started demo
  rm -rf "$DEMO"
  echo "done: containers, processes and $DEMO are gone"
}

if [ "${1:-}" = "--down" ]; then down; exit 0; fi
if [ -n "${1:-}" ]; then echo "usage: npm run demo [-- --down]" >&2; exit 2; fi

on_interrupt() { trap - INT TERM; echo; down; exit 130; }
trap on_interrupt INT TERM

beacon() { dist/cli/main.js "$@"; }
step() { printf '\n\033[1;36m[%s] %s\033[0m\n' "$1" "$2" >&2; }
show() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }

# hits N: N requests through nginx, counted by the container that answered.
hits() {
  for _ in $(seq 1 "$1"); do curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT/" || echo "(failed)"; done | sort | uniq -c | sed 's/^/    /'
}

# wait_upstreams N: until nginx's generated config lists N web backends.
wait_upstreams() {
  for _ in $(seq 1 100); do
    [ "$(grep -c '^ *server .*;' "$DEMO/nginx/conf/beacon.conf" 2>/dev/null || true)" -ge "$1" ] && \
    [ "$(grep -c '^ *server .*;' "$DEMO/nginx/conf/beacon.conf")" -le "$1" ] && return 0
    sleep 0.1
  done
  echo "nginx did not reach $1 backends; see $DEMO/lbsync.log" >&2; return 1
}

step 1/9 "installing what is missing (Debian packages, npm dependencies, Node 24)"
ensure_packages "${BEACON_PACKAGES[@]}" curl
ensure_node_modules
[ -f dist/cli/main.js ] && [ -z "$(find cli registry sidekicks lbsync health -name '*.ts' -newer dist/cli/main.js 2>/dev/null | head -1)" ] || npm run --silent build
mkdir -p "$DEMO/nginx/conf" "$DEMO/nginx/logs" "$DEMO/www"

step 2/9 "starting dockerd (if needed) and etcd on 127.0.0.1:$ETCD_PORT"
start_dockerd_if_needed demo
if ! is_running etcd; then
  if (exec 3<>/dev/tcp/127.0.0.1/$ETCD_PORT) 2>/dev/null; then
    echo "port $ETCD_PORT is taken; run with BEACON_DEMO_ETCD_PORT=<free port>" >&2; exit 1
  fi
  start_bg etcd etcd --name demo --data-dir "$DEMO/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "demo=http://127.0.0.1:$((ETCD_PORT + 1))"
fi
export BEACON_ETCD=http://127.0.0.1:$ETCD_PORT ETCDCTL_API=3
for _ in $(seq 1 50); do etcdctl --endpoints "$BEACON_ETCD" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
etcdctl --endpoints "$BEACON_ETCD" endpoint health

step 3/9 "making the demo image (busybox httpd whose page is its container name) and starting nginx on 127.0.0.1:$HTTP_PORT"
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in sh httpd hostname sleep kill cat echo nc rm; do ln -s busybox "$root/bin/$a"; done
  cat >"$root/bin/serve" <<'SERVE'
#!/bin/sh
# The page says which container answered, like the seed's home.php; /health is for beacon's checks.
echo "${NAME:-$(hostname)}" > /www/index.html
echo ok > /www/health
httpd -f -p "${PORT:-80}" -h /www &
pid=$!
trap 'sleep ${DRAIN:-1}; kill $pid' TERM INT
wait $pid; wait $pid
SERVE
  chmod +x "$root/bin/serve"
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/serve"]' --change 'EXPOSE 80' --change "LABEL $LABEL" - "$IMAGE" >/dev/null
  rm -rf "$root"
fi
# The Lua module (libnginx-mod-http-lua) lets lbsync push endpoint changes
# without reloads (--nginx-mode dynamic); an nginx with its own prefix loads it
# by absolute path.
cat >"$DEMO/nginx/conf/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
pid $DEMO/nginx/logs/nginx.pid;
error_log $DEMO/nginx/logs/error.log notice;
events { worker_connections 512; }
http {
  access_log off;
  # lbsync owns this file: upstream web { … } and its server block.
  include $DEMO/nginx/conf/beacon.conf;
}
CONF
: >"$DEMO/nginx/conf/beacon.conf"
NGINX="nginx -p $DEMO/nginx -c $DEMO/nginx/conf/nginx.conf"
is_running nginx || start_bg nginx $NGINX -g 'daemon off;'
sleep 0.3

step 4/9 "starting the sidekick (Docker events → etcd) and lbsync (etcd → health checks → nginx)"
cat >"$DEMO/lbsync.yaml" <<YAML
nginx-conf: $DEMO/nginx/conf/beacon.conf
nginx-test: $NGINX -t
nginx-reload: $NGINX -s reload
nginx-mode: dynamic
services: web
health-interval: 1s
upstreams:
  web:
    servers: [{ listen: "127.0.0.1:$HTTP_PORT", location: / }]
    health: { http: /health, interval: 1s, fall: 2, rise: 1 }
YAML
is_running sidekick || start_bg sidekick dist/cli/main.js sidekick docker --label-filter "$LABEL" --advertise-ip 127.0.0.1 --node demo --ttl 5s
is_running lbsync || start_bg lbsync dist/cli/main.js lbsync --config "$DEMO/lbsync.yaml" --status-port 9337
sleep 0.5

step 5/9 "starting the database and announcing it with a per-unit sidekick (single layout, like mongodb-discovery.service)"
docker rm -f demo-mongodb >/dev/null 2>&1 || true
docker run -d --name demo-mongodb --label "$LABEL" --label SERVICE_IGNORE=true -e PORT=27017 -p 127.0.0.1::27017 "$IMAGE" >/dev/null
db_port=$(docker port demo-mongodb 27017/tcp | head -1 | sed 's/.*://')
is_running announce-mongodb || start_bg announce-mongodb dist/cli/main.js sidekick announce \
  --service mongodb --host 127.0.0.1 --port "$db_port" --container demo-mongodb --layout single --ttl 5s
for _ in $(seq 1 50); do etcdctl --endpoints "$BEACON_ETCD" get /services/mongodb --print-value-only | grep -q port && break; sleep 0.1; done
show etcdctl --endpoints "$BEACON_ETCD" get /services/mongodb

step 6/9 "starting web@1..3 (labelled SERVICE_NAME=web, health at /health)"
for i in 1 2 3; do
  docker rm -f "web-$i" >/dev/null 2>&1 || true
  docker run -d --name "web-$i" --hostname "web-$i" --label "$LABEL" --label SERVICE_NAME=web --label SERVICE_CHECK_HTTP=/health \
    --label SERVICE_CHECK_INTERVAL=1s -p 127.0.0.1::80 "$IMAGE" >/dev/null
done
wait_upstreams 3
show beacon discover web
show beacon discover mongodb
show beacon services
show beacon status

step 7/9 "12 requests through nginx on http://127.0.0.1:$HTTP_PORT/ — spread across the containers"
hits 12

step 8/9 "killing web-2 (docker rm -f): its record goes, nginx stops sending to it"
docker rm -f web-2 >/dev/null
wait_upstreams 2
hits 12

step 9/9 "scaling up: web@4 and web@5 join"
for i in 4 5; do
  docker run -d --name "web-$i" --hostname "web-$i" --label "$LABEL" --label SERVICE_NAME=web --label SERVICE_CHECK_HTTP=/health \
    --label SERVICE_CHECK_INTERVAL=1s -p 127.0.0.1::80 "$IMAGE" >/dev/null
done
wait_upstreams 4
hits 16

trap - INT TERM
cat >&2 <<DONE

$(printf '\033[1mThe demo is running. Try:\033[0m')
  curl http://127.0.0.1:$HTTP_PORT/              # a web container answers with its name
  export BEACON_ETCD=$BEACON_ETCD
  ./beacon discover web --watch                  # live endpoint set (Ctrl-C to stop)
  ./beacon services
  ./beacon status                                # lbsync's view: health, pools, nginx (dynamic mode)
  docker run -d --label $LABEL --label SERVICE_NAME=web -p 127.0.0.1::80 $IMAGE   # one more web
  docker stop web-1                              # and watch it leave
  ETCDCTL_API=3 etcdctl --endpoints \$BEACON_ETCD get --prefix /services/
  cat $DEMO/nginx/conf/beacon.conf
  tail -f $DEMO/sidekick.log $DEMO/lbsync.log    # JSON logs
Remove everything:  npm run demo -- --down
DONE
