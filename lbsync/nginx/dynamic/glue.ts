import { dirname, join } from 'node:path';
import { NginxConfError } from '../../errors.js';

/** Where the Lua glue lives: beside the live file, so a container sharing that directory sees it too. */
export interface GluePaths {
  lua: string;
  secret: string;
  socket: string;
  /** Edit-in-place only: the http-level glue the user includes from `http { }`. */
  conf: string;
}

// These paths are written into nginx config and Lua strings.
const SAFE_PATH = /^\/[A-Za-z0-9._\/-]+$/;

/** The glue paths for a live file; refuses a directory whose name could not be written into the config safely. */
export function gluePaths(file: string): GluePaths {
  const dir = dirname(file);
  if (!SAFE_PATH.test(dir)) throw new NginxConfError(`dynamic mode writes its control socket and Lua file beside the config; the directory name must be letters, digits, ".", "_", "-" and "/"`, file);
  const paths = { lua: join(dir, 'beacon_balancer.lua'), secret: join(dir, '.beacon-control.secret'), socket: join(dir, '.beacon-control.sock'), conf: join(dir, 'beacon-dynamic.conf') };
  // sun_path holds 108 bytes.
  if (paths.socket.length > 100) throw new NginxConfError(`the control socket path ${paths.socket} is longer than a unix socket allows (100 characters)`, file);
  return paths;
}

/** The shared dict's name, as the Lua file knows it. */
export const DICT = 'beacon_upstreams';

/**
 * The http-level glue: the shared dict, the balancer module loaded by the
 * master (which also reads the control secret, so workers need no access to
 * it), and the control server on a unix socket. `structure` is the signature
 * nginx reports back, so lbsync can tell which structure it runs.
 */
export function renderGlue(paths: GluePaths, structure: string): string[] {
  return [
    '# beacon dynamic upstreams: lbsync pushes endpoint sets through the control socket into the Lua balancer; no reload per change.',
    `lua_shared_dict ${DICT} 32m;`,
    `init_by_lua_block { package.loaded.beacon_balancer = dofile("${paths.lua}"); package.loaded.beacon_balancer.init("${paths.secret}", "${structure}"); }`,
    'server {',
    `    listen unix:${paths.socket};`,
    '    access_log off;',
    '    client_max_body_size 8m;',
    '    client_body_buffer_size 8m;',
    '    location = /beacon/upstreams { content_by_lua_block { require("beacon_balancer").control(); } }',
    '}',
    '',
  ];
}

/**
 * The balancer line of one upstream. `version` tags the servers the file
 * lists: the Lua side serves the dict only when it holds that version or
 * newer, else nginx's round robin over the file's servers. Without the glue
 * (nothing loaded the module) it does the same, so a missing include never
 * breaks traffic. Every Lua statement ends in ";" and has no braces, so the
 * block also reads as nginx directives to lbsync's own scanner (edit-in-place).
 */
export function balancerLine(service: string, version: number): string {
  return `balancer_by_lua_block { local b = package.loaded.beacon_balancer; if b then b.balance("${service}", ${version}) end; }`;
}

/** nginx's message when a directive of the Lua module is unknown: the module is not loaded. */
export const NO_LUA_MODULE = /unknown directive "(lua_shared_dict|init_by_lua_block|balancer_by_lua_block|content_by_lua_block)"/;

export function noLuaModuleError(detail: string): NginxConfError {
  return new NginxConfError(
    `--nginx-mode dynamic needs nginx's Lua module, which this nginx does not load (${detail}). Install Debian's libnginx-mod-http-lua and load it in the main context ` +
      '(load_module /usr/lib/nginx/modules/ndk_http_module.so; load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;), or run --nginx-mode reload',
  );
}
