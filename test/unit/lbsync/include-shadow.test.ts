import assert from 'node:assert/strict';
import { planShadow, splitCommand, withConfFile, mainConfFromTestOutput, nginxMessage } from '../../../lbsync/index.js';

describe('lbsync nginx include shadow and commands', () => {
  const files: Record<string, string> = {
    '/n/conf/nginx.conf': 'events {}\nhttp {\n  include mime.types;\n  include conf.d/*.conf;\n  include sites/*;\n}\n',
    '/n/conf/mime.types': 'types {}',
    '/n/conf/conf.d/a.conf': 'upstream a { server 1.1.1.1; }',
    '/n/conf/conf.d/beacon.conf': 'upstream web { server 1.1.1.2; }',
    '/n/conf/sites/site1': 'include /n/conf/nested/*.conf;',
    '/n/conf/nested/inner.conf': '# nested',
  };
  const fs = {
    read: (p: string) => {
      if (!(p in files)) throw new Error(`ENOENT ${p}`);
      return files[p]!;
    },
    glob: (pattern: string) => {
      const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      return Object.keys(files).filter((f) => re.test(f) && !f.split('/').pop()!.startsWith('.')).sort();
    },
  };

  it('points a copy of the main config at the staged file, keeping every other include', () => {
    const plan = planShadow('/n/conf/nginx.conf', '/n/conf/conf.d/beacon.conf', '/n/conf/conf.d/.beacon.conf.beacon-staged', fs, '9')!;
    assert.equal(plan.main, '/n/conf/.nginx.conf.beacon-shadow.9');
    assert.equal(
      plan.files.get(plan.main),
      'events {}\nhttp {\n  include mime.types;\n  include "/n/conf/conf.d/a.conf"; include "/n/conf/conf.d/.beacon.conf.beacon-staged";\n  include sites/*;\n}\n',
    );
  });

  it('finds a target that does not exist yet through a glob include (first run)', () => {
    const plan = planShadow('/n/conf/nginx.conf', '/n/conf/conf.d/new.conf', '/n/conf/conf.d/.new.conf.beacon-staged', fs, '9')!;
    assert.ok(plan, 'the not-yet-written file is reached through conf.d/*.conf');
    assert.match(plan.files.get(plan.main)!, /include "\/n\/conf\/conf.d\/a.conf"; include "\/n\/conf\/conf.d\/beacon.conf"; include "\/n\/conf\/conf.d\/.new.conf.beacon-staged";/);
    assert.equal(planShadow('/n/conf/nginx.conf', '/n/conf/other/new.conf', '/x', fs), undefined, 'a file no include would read is still refused');
  });

  it('follows nested includes and tests the staged main config itself in edit-in-place of nginx.conf', () => {
    const nested = planShadow('/n/conf/nginx.conf', '/n/conf/nested/inner.conf', '/n/conf/nested/.inner.staged', fs, '9')!;
    assert.deepEqual([...nested.files.keys()].sort(), ['/n/conf/.nginx.conf.beacon-shadow.9', '/n/conf/sites/.site1.beacon-shadow.9']);
    assert.equal(nested.files.get('/n/conf/sites/.site1.beacon-shadow.9'), 'include "/n/conf/nested/.inner.staged";');
    assert.deepEqual(planShadow('/n/conf/nginx.conf', '/n/conf/nginx.conf', '/n/conf/.nginx.conf.staged', fs), { main: '/n/conf/.nginx.conf.staged', files: new Map() });
    assert.equal(planShadow('/n/conf/nginx.conf', '/elsewhere.conf', '/x', fs), undefined);
  });

  it('splits operator commands and points -c at the copy', () => {
    assert.deepEqual(splitCommand(`nginx -p '/srv/my nginx' -c conf/nginx.conf -t`), ['nginx', '-p', '/srv/my nginx', '-c', 'conf/nginx.conf', '-t']);
    assert.deepEqual(withConfFile(['nginx', '-c', 'a', '-t'], '/b'), ['nginx', '-c', '/b', '-t']);
    assert.deepEqual(withConfFile(['nginx', '-t'], '/b'), ['nginx', '-t', '-c', '/b']);
    assert.throws(() => splitCommand('nginx "-t'), /quote/);
  });

  it('reads nginx -t output', () => {
    const failed = 'nginx: [emerg] host not found in upstream "nope.invalid:80" in /x/beacon.conf:4\nnginx: configuration file /x/nginx.conf test failed\n';
    assert.equal(mainConfFromTestOutput(failed), '/x/nginx.conf');
    assert.equal(nginxMessage(failed), '[emerg] host not found in upstream "nope.invalid:80" in /x/beacon.conf:4');
    assert.equal(mainConfFromTestOutput('nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n'), '/etc/nginx/nginx.conf');
  });
});
