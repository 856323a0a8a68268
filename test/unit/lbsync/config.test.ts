import assert from 'node:assert/strict';
import { allowedNetworks, parseConfig } from '../../../lbsync/index.js';

describe('lbsync config file', () => {
  it('reads YAML with the flags\' names and per-service upstream options', () => {
    const c = parseConfig(
      `nginx-conf: /etc/nginx/conf.d/beacon.conf
wait: 100ms:2s
services: [web, api]
health: off
health-interval: 2s
upstreams:
  '*': { max-fails: 2 }
  web:
    method: hash $request_uri consistent
    keepalive: 8
    fail-timeout: 5s
    servers:
      - { listen: 80, server-name: web.example.com, location: / }
    health: { http: /health, interval: 1s, fall: 2 }
`,
      'yaml',
    );
    assert.equal(c.nginxConf, '/etc/nginx/conf.d/beacon.conf');
    assert.equal(c.wait, '100ms:2s');
    assert.deepEqual(c.services, ['web', 'api']);
    assert.equal(c.health, 'off');
    assert.equal(c.healthInterval, 2000);
    assert.deepEqual(c.upstreams!.web, {
      method: { kind: 'hash', key: '$request_uri', consistent: true },
      keepalive: 8,
      failTimeoutS: 5,
      servers: [{ listen: ['80'], serverName: ['web.example.com'], location: '/' }],
    });
    assert.deepEqual(c.upstreams!['*'], { maxFails: 2 });
    assert.deepEqual(c.healthOverrides!.web, { path: '/health', kind: 'http', intervalMs: 1000, fall: 2 });
  });

  it('reads JSON the same way and refuses unknown or unsafe settings', () => {
    assert.deepEqual(parseConfig('{"nginxEdit":"/etc/nginx/nginx.conf","services":"web,api"}', 'json'), { nginxEdit: '/etc/nginx/nginx.conf', services: ['web', 'api'] });
    assert.throws(() => parseConfig('nginx-cnof: x', 'yaml'), /not a known setting/);
    assert.throws(() => parseConfig('upstreams: { web: { method: "hash $x; include /etc/passwd" } }', 'yaml'), /method/);
    assert.throws(() => parseConfig('upstreams: { "we b": {} }', 'yaml'), /upstreams/);
    assert.throws(() => parseConfig('upstreams: { web: { servers: [{ listen: "80; evil" }] } }', 'yaml'), /listen/);
    assert.throws(() => parseConfig('{', 'json'), /not valid JSON/);
  });

  it('reads the status, metrics and ELBv2 settings with the flags\' names', () => {
    const config = parseConfig(
      [
        'status-port: 9337',
        'metrics-host: 0.0.0.0',
        'elbv2-target-group: [web=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef]',
        'elbv2-max-remove: 25%',
        'elbv2-drift: 30s',
      ].join('\n'),
      'yaml',
    );
    assert.equal(config.statusPort, 9337);
    assert.equal(config.metricsHost, '0.0.0.0');
    assert.deepEqual(config.elbv2TargetGroup, ['web=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef']);
    assert.equal(config.elbv2MaxRemove, '25%');
    assert.equal(config.elbv2Drift, '30s');
    assert.throws(() => parseConfig('status-port: 70000', 'yaml'), /status-port/);
  });

  it('holds durations to the ranges their flags have, refusing (never rounding) what cannot be honoured', () => {
    assert.throws(() => parseConfig('health-interval: 10ms', 'yaml'), /health-interval: must be at least 100ms/);
    assert.throws(() => parseConfig('resync: 30d', 'yaml'), /resync/);
    assert.throws(() => parseConfig('resync: 48h', 'yaml'), /resync.*at most 24h/);
    assert.throws(() => parseConfig('upstreams: { web: { health: { timeout: 2h } } }', 'yaml'), /timeout.*at most 1h/);
    assert.throws(() => parseConfig('upstreams: { web: { fail-timeout: 1500ms } }', 'yaml'), /fail-timeout.*multiple of 1s/);
    assert.equal(parseConfig('upstreams: { web: { fail-timeout: 2s } }', 'yaml').upstreams!.web!.failTimeoutS, 2);
    assert.equal(parseConfig('health-interval: 250ms', 'yaml').healthInterval, 250);
  });

  it('filters endpoints by --allowed-networks', () => {
    const allow = allowedNetworks(['10.0.0.0/8', 'fd00::/8']);
    const r = (host: string) => ({ service: 'web', instance: 'i', host, port: 80 });
    assert.equal(allow(r('10.1.2.3')), true);
    assert.equal(allow(r('192.168.1.1')), false);
    assert.equal(allow(r('fd00::1')), true);
    assert.equal(allow(r('web.example.com')), false);
    assert.throws(() => allowedNetworks(['10.0.0.0/33']), /CIDR/);
  });
});
