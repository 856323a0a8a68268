import assert from 'node:assert/strict';
import { builtPaths, discoverLayout, mainFiles, nginxArgs, parsePid, resolveLayout, splitCommand, withConfFile, type CommandResult } from '../../../lbsync/index.js';

const DEBIAN_V = 'nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt=-g --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --pid-path=/run/nginx.pid\n';

/** A command runner that answers `… -V` with `version` and anything else with `test`, recording what it ran. */
function runner(version: string | undefined, test = '') {
  const ran: string[][] = [];
  const run = async (argv: readonly string[]): Promise<CommandResult> => {
    ran.push([...argv]);
    if (argv.at(-1) === '-V') return version === undefined ? { code: 127, stdout: '', stderr: 'not found' } : { code: 0, stdout: '', stderr: version };
    return { code: 0, stdout: '', stderr: test };
  };
  return { run, ran };
}

describe('lbsync nginx layout: which main config a test command means, and where the candidate path goes', () => {
  it('reads nginx options as ngx_get_options does (separate, attached and combined)', () => {
    assert.deepEqual(nginxArgs(splitCommand('nginx -t -q -p /srv/n -c conf/nginx.conf')), { at: 0, prefix: '/srv/n', conf: 'conf/nginx.conf' });
    assert.deepEqual(nginxArgs(['/usr/sbin/nginx', '-tqc', '/e/n.conf', '-p/srv']), { at: 0, conf: '/e/n.conf', prefix: '/srv' });
    assert.deepEqual(nginxArgs(['docker', 'exec', 'edge', 'nginx', '-t', '-c', '/etc/nginx/nginx.conf']), { at: 3, conf: '/etc/nginx/nginx.conf' });
    assert.deepEqual(nginxArgs(['sudo', 'nginx-debug', '-g', 'daemon off;', '-t']), { at: 1 });
    assert.equal(nginxArgs(['sh', '-c', 'nginx -t -c /x']), undefined, 'a shell hides nginx: its -c is not nginx\'s');
  });

  it('puts the candidate at {main}, else at nginx\'s -c, and refuses a wrapper with no place for it', () => {
    assert.deepEqual(withConfFile(['sh', '-c', 'nginx -t -c "{main}"'], '/p/.x'), ['sh', '-c', 'nginx -t -c "/p/.x"']);
    assert.deepEqual(withConfFile(['/opt/my tools/test nginx.sh', '{main}'], '/p/.x'), ['/opt/my tools/test nginx.sh', '/p/.x']);
    assert.deepEqual(withConfFile(['nginx', '-t', '-q', '-p', 'P', '-c', 'conf/nginx.conf'], '/p/.x'), ['nginx', '-t', '-q', '-p', 'P', '-c', '/p/.x']);
    assert.deepEqual(withConfFile(['nginx', '-tc/old'], '/p/.x'), ['nginx', '-tc/p/.x']);
    assert.deepEqual(withConfFile(['docker', 'exec', 'e', 'nginx', '-t'], '/p/.x'), ['docker', 'exec', 'e', 'nginx', '-t', '-c', '/p/.x']);
    assert.throws(() => withConfFile(['sh', '-c', 'nginx -t'], '/p/.x'), (err: Error & { code?: string }) => err.code === 'BEACON_NGINX_CONF' && /\{main\}/.test(err.message));
  });

  it('resolves -c against -p (relative to the working directory), else against nginx -V\'s prefix', () => {
    assert.deepEqual(resolveLayout(nginxArgs(['nginx', '-p', 'srv', '-c', 'conf/n.conf']), {}, '/home/op'), { prefix: '/home/op/srv', mainConf: '/home/op/srv/conf/n.conf' });
    assert.deepEqual(resolveLayout(nginxArgs(['nginx', '-t']), builtPaths(DEBIAN_V)), { prefix: '/usr/share/nginx', mainConf: '/etc/nginx/nginx.conf' });
    assert.deepEqual(resolveLayout(nginxArgs(['nginx', '-c', 'n.conf']), { prefix: '/usr/local/nginx' }), { prefix: '/usr/local/nginx', mainConf: '/usr/local/nginx/n.conf' });
    assert.deepEqual(resolveLayout(nginxArgs(['nginx', '-c', 'n.conf']), {}), {}, 'relative -c with no prefix is unknown, not guessed');
  });

  it('takes --nginx-main-conf, then argv, then nginx -V, then nginx -t output, in that order', async () => {
    const a = runner(DEBIAN_V);
    const explicit = await discoverLayout(['nginx', '-t', '-p', '/srv', '-c', '/srv/a.conf'], '/etc/other.conf', a.run);
    assert.equal(explicit.mainConf, '/etc/other.conf');
    assert.equal(explicit.source, '--nginx-main-conf');
    assert.equal(a.ran.length, 0, 'argv gave the prefix: nothing to run');

    const b = runner(DEBIAN_V);
    const quiet = await discoverLayout(splitCommand('nginx -t -q -p /srv/n -c conf/nginx.conf'), undefined, b.run);
    assert.deepEqual([quiet.mainConf, quiet.source, quiet.prefix], ['/srv/n/conf/nginx.conf', '--nginx-test argv', '/srv/n']);
    assert.equal(b.ran.length, 0, '-q silences nginx -t, but nothing needs to run');

    const c = runner(DEBIAN_V);
    const wrapped = await discoverLayout(['docker', 'exec', 'edge', 'nginx', '-t'], undefined, c.run);
    assert.deepEqual([wrapped.mainConf, wrapped.source], ['/etc/nginx/nginx.conf', 'nginx -V']);
    assert.deepEqual(c.ran, [['docker', 'exec', 'edge', 'nginx', '-V']], 'nginx -V runs through the same wrapper');

    const d = runner(undefined, 'nginx: the configuration file /x/nginx.conf syntax is ok\n');
    const scraped = await discoverLayout(['/usr/local/bin/check-edge'], undefined, d.run);
    assert.deepEqual([scraped.mainConf, scraped.source], ['/x/nginx.conf', 'nginx -t output']);

    await assert.rejects(discoverLayout(['sh', '-c', 'nginx -t -c {main}'], undefined, runner(DEBIAN_V).run), /give --nginx-main-conf/);
    await assert.rejects(discoverLayout(['check-edge'], undefined, runner(undefined, 'all good').run), /cannot tell which main config.*give --nginx-main-conf/);
  });

  it('names the file and the reason when the pid / error_log lookup fails, and resolves relative paths against the prefix', () => {
    const warnings: string[] = [];
    assert.deepEqual(mainFiles('/n/nginx.conf', '/n', warnings, () => 'pid logs/nginx.pid;\nerror_log /var/log/e.log warn;\n'), { pidFile: '/n/logs/nginx.pid', errorLog: '/var/log/e.log' });
    assert.deepEqual(mainFiles('/n/nginx.conf', '/n', warnings, () => 'error_log stderr;\n'), {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(mainFiles('/n/nginx.conf', undefined, warnings, () => 'pid logs/nginx.pid;\n'), {});
    assert.match(warnings.pop()!, /pid "logs\/nginx\.pid" in \/n\/nginx\.conf is relative and nginx's prefix is unknown/);
    assert.deepEqual(mainFiles('/n/nginx.conf', '/n', warnings, () => 'http { "unterminated }\n'), {});
    assert.match(warnings.pop()!, /cannot read the pid and error_log directives of \/n\/nginx\.conf: .+; reloads go unconfirmed/);
    assert.deepEqual(mainFiles('/gone.conf', '/n', warnings, () => { throw new Error("ENOENT: no such file or directory, open '/gone.conf'"); }), {});
    assert.match(warnings.pop()!, /\/gone\.conf: ENOENT/);
  });

  it('accepts only a positive integer pid (an empty pid file means nginx is stopped; kill(0) would hit our own group)', () => {
    const cases: Array<[string, number | undefined]> = [['1234\n', 1234], ['', undefined], ['\n', undefined], ['0', undefined], ['-1', undefined], ['-1234', undefined], ['12ab', undefined], ['1e3', undefined], ['99999999999', undefined], [' 42 ', 42]];
    for (const [text, pid] of cases) assert.equal(parsePid(text), pid, JSON.stringify(text));
  });
});
