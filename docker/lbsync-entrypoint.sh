#!/bin/sh
# Entrypoint of the beacon/lbsync image: nginx and lbsync side by side.
#
#   lbsync [FLAG…]   write nginx's main config (unless you mounted your own),
#                    start nginx under $BEACON_NGINX_PREFIX, then exec
#                    `beacon lbsync --nginx-conf <prefix>/conf/beacon.conf
#                     --nginx-test '<this nginx> -t' --nginx-reload '<this nginx> -s reload'
#                     [--config /etc/beacon/lbsync.yaml] [--metrics-port $BEACON_METRICS_PORT] FLAG…`
#                    (flags you give win; --nginx-edit replaces --nginx-conf)
#   anything else    `beacon ARGS…` (discover, services, health, --version, …)
#
# Environment:
#   BEACON_ETCD, BEACON_PREFIX, …   as for the CLI
#   BEACON_LBSYNC_CONFIG    lbsync config file used when present (default /etc/beacon/lbsync.yaml)
#   BEACON_METRICS_PORT     lbsync metrics on 127.0.0.1:PORT, used by the HEALTHCHECK (default 9465; empty: off)
#   BEACON_NGINX_PREFIX     nginx's prefix, writable by uid 1000 (default /var/lib/beacon/nginx)
#   BEACON_NGINX_WORKERS    worker_processes (default auto)
#   BEACON_NGINX_ACCESS_LOG on: access log to stdout (default off)
#   BEACON_NGINX_LOG_LEVEL  error_log level, to stderr (default warn)
#   BEACON_NGINX_MODE       dynamic (default when nginx's Lua module is installed) or reload;
#                           a --nginx-mode flag wins
#
# Server blocks (listen 8080, location / → upstream) come from lbsync's config
# (upstreams.<service>.servers), so they appear together with their upstream;
# extra http-level snippets may be mounted into <prefix>/conf/conf.d/*.conf.
set -eu

BEACON="node /app/dist/cli/main.js"
[ "${1:-lbsync}" = lbsync ] || exec $BEACON "$@"
[ $# -gt 0 ] && shift

PREFIX=${BEACON_NGINX_PREFIX:-/var/lib/beacon/nginx}
MAIN=$PREFIX/conf/nginx.conf
OWNED=$PREFIX/conf/beacon.conf
MARK='# Written by the beacon/lbsync entrypoint'
LUA_MODULE=/usr/lib/nginx/modules/ngx_http_lua_module.so
if [ -f "$LUA_MODULE" ]; then
  mode=${BEACON_NGINX_MODE:-dynamic}
  load_modules="load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module $LUA_MODULE;"
else
  mode=${BEACON_NGINX_MODE:-reload}
  load_modules="# no Lua module (libnginx-mod-http-lua): lbsync runs in reload mode"
fi
NGINX="nginx -e stderr -p $PREFIX -c $MAIN"

mkdir -p "$PREFIX/conf/conf.d" "$PREFIX/logs" "$PREFIX/tmp"
if [ ! -e "$MAIN" ] || head -n 1 "$MAIN" | grep -q "^$MARK"; then
  access_log=off
  [ "${BEACON_NGINX_ACCESS_LOG:-off}" = on ] && access_log=/dev/stdout
  cat >"$MAIN" <<EOF
$MARK at every start; mount your own file here to keep it.
$load_modules
worker_processes ${BEACON_NGINX_WORKERS:-auto};
pid $PREFIX/logs/nginx.pid;
error_log stderr ${BEACON_NGINX_LOG_LEVEL:-warn};
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.type[s];
  access_log $access_log;
  client_body_temp_path $PREFIX/tmp/body;
  proxy_temp_path $PREFIX/tmp/proxy;
  fastcgi_temp_path $PREFIX/tmp/fastcgi;
  uwsgi_temp_path $PREFIX/tmp/uwsgi;
  scgi_temp_path $PREFIX/tmp/scgi;
  # lbsync owns this file: one upstream per service plus the server blocks of its config.
  include $OWNED;
  include $PREFIX/conf/conf.d/*.conf;
}
EOF
fi
# nginx needs the owned file to exist; lbsync fills it on its first sync.
[ -e "$OWNED" ] || : >"$OWNED"

echo "beacon-lbsync: starting nginx ($NGINX)" >&2
$NGINX -t -q
$NGINX

has() { # has FLAG ARGS…: whether FLAG (or FLAG=…) is among ARGS
  flag=$1; shift
  for a in "$@"; do case $a in "$flag"|"$flag"=*) return 0 ;; esac; done
  return 1
}
config=${BEACON_LBSYNC_CONFIG:-/etc/beacon/lbsync.yaml}
if ! has --config "$@" && [ -f "$config" ]; then set -- --config "$config" "$@"; fi
if ! has --metrics-port "$@" && [ -n "${BEACON_METRICS_PORT:-}" ]; then set -- --metrics-port "$BEACON_METRICS_PORT" "$@"; fi
if ! has --nginx-edit "$@"; then set -- --nginx-conf "$OWNED" "$@"; fi
if ! has --nginx-mode "$@"; then set -- --nginx-mode "$mode" "$@"; fi
exec $BEACON lbsync --nginx-test "$NGINX -t" --nginx-reload "$NGINX -s reload" "$@"
