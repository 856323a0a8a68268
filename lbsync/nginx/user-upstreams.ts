import { dirname, isAbsolute, join, resolve } from 'node:path';
import { scanConf, type ConfDirective } from './conf-scanner.js';
import type { ConfFiles } from './include-shadow.js';

/** Where the user's config already uses an upstream name. */
export interface UserUpstream {
  name: string;
  /** `file:line` of the directive that claims it. */
  where: string;
  /** `upstream` for an explicit block; `pass` for the implicit upstream of `proxy_pass http://NAME:PORT`. */
  kind: 'upstream' | 'pass';
}

export interface UserUpstreams {
  /** Names the user's config claims for itself. */
  names: Map<string, UserUpstream>;
  /** Names its `*_pass` directives route to without a port: upstreams it expects someone (lbsync) to define. */
  references: Set<string>;
  errors: string[];
}

/** The `*_pass` directives that create an implicit upstream named after their host. */
const PASSES = new Set(['proxy_pass', 'fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass']);

/**
 * The http upstream names the rest of the config (every file of the include
 * chain from `main`, except lbsync's own `own` file) already claims: an
 * `upstream NAME { }` block, or `proxy_pass http://NAME:PORT` (nginx makes an
 * implicit upstream NAME with that port, and an explicit `upstream NAME`
 * elsewhere then fails: "upstream "NAME" may not have port PORT"). lbsync
 * names its upstreams after services, so a service called like one of these
 * would break `nginx -t` for everyone; the caller keeps it out instead.
 * `stream { }` is a separate namespace and is skipped. A file that cannot be
 * read or parsed is reported in `errors`, never silently skipped.
 */
export function userUpstreams(main: string, own: string, files: ConfFiles, maxDepth = 8): UserUpstreams {
  const names = new Map<string, UserUpstream>();
  const references = new Set<string>();
  const errors: string[] = [];
  const prefix = dirname(main);
  const seen = new Set<string>([resolve(own)]);
  const readFile = (file: string, depth: number) => {
    if (depth > maxDepth || seen.has(resolve(file))) return;
    seen.add(resolve(file));
    let tree: ConfDirective[];
    try {
      tree = scanConf(files.read(file), file);
    } catch (err) {
      errors.push(`cannot read ${file} to find the upstream names it uses: ${(err as Error).message}`);
      return;
    }
    visit(file, tree, depth);
  };
  const visit = (file: string, list: ConfDirective[], depth: number) => {
    for (const d of list) {
      if (d.name === 'stream') continue;
      if (d.name === 'include' && d.args.length === 1) {
        const pattern = isAbsolute(d.args[0]!) ? d.args[0]! : join(prefix, d.args[0]!);
        for (const path of /[*?[]/.test(pattern) ? files.glob(pattern) : [pattern]) readFile(path, depth + 1);
      } else if (d.name === 'upstream' && d.block && d.args[0]) {
        claim(d.args[0], `${file}:${d.line}`, 'upstream');
      } else if (PASSES.has(d.name) && d.args[0]) {
        const target = /^(?:[a-z]+:\/\/)?([^/:$\s[\]]+)(:\d+)?(?:\/|$)/i.exec(d.args[0]);
        if (target?.[2]) claim(target[1]!, `${file}:${d.line}`, 'pass');
        else if (target) references.add(target[1]!);
      }
      if (d.block) visit(file, d.block.children, depth);
    }
  };
  const claim = (name: string, where: string, kind: UserUpstream['kind']) => {
    if (!names.has(name)) names.set(name, { name, where, kind });
  };
  readFile(main, 0);
  return { names, references, errors };
}
