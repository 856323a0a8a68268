import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { factsFromInspect, isPublishable, isStopSignal, parseDockerEvent, type ContainerFacts } from '../../../sidekicks/index.js';

function inspect(over: Record<string, unknown> = {}): Docker.ContainerInspectInfo {
  return {
    Id: 'abc123abc123abc123',
    Name: '/web01',
    State: { Running: true, Paused: false, StartedAt: '2026-01-02T03:04:05.5Z' },
    Config: { Image: 'example/web:1', Labels: { a: 'b' }, Env: ['X=1'], ExposedPorts: { '80/tcp': {}, '9000/udp': {} } },
    NetworkSettings: {
      Ports: {
        '80/tcp': [
          { HostIp: '::', HostPort: '18001' },
          { HostIp: '0.0.0.0', HostPort: '18001' },
        ],
        '9000/udp': null,
      },
      Networks: { ingress: { IPAddress: '10.0.0.4' }, backend: { IPAddress: '10.0.1.7' } },
    },
    ...over,
  } as unknown as Docker.ContainerInspectInfo;
}

describe('sidekicks: container facts from docker inspect', () => {
  it('reduces inspect output: name, ports (IPv4 binding preferred), exposed, network address', () => {
    const f = factsFromInspect(inspect());
    assert.equal(f.name, 'web01');
    assert.deepEqual(f.ports, [{ port: 80, proto: 'tcp', hostIp: '0.0.0.0', hostPort: 18001 }]);
    assert.deepEqual(f.exposed, [
      { port: 80, proto: 'tcp' },
      { port: 9000, proto: 'udp' },
    ]);
    assert.equal(f.networkIp, '10.0.1.7', 'skips swarm ingress');
    assert.equal(f.health, 'none');
    assert.equal(f.startedAt, '2026-01-02T03:04:05.5Z');
  });

  it('reads the health status', () => {
    const f = factsFromInspect(inspect({ State: { Running: true, Paused: false, StartedAt: '', Health: { Status: 'starting' } } }));
    assert.equal(f.health, 'starting');
    assert.equal(f.startedAt, undefined);
  });

  const base: Pick<ContainerFacts, 'running' | 'paused' | 'health' | 'stopping'> = { running: true, paused: false, health: 'none' };
  for (const [name, facts, ignoreHealth, want] of [
    ['running, no healthcheck', base, false, true],
    ['not running', { ...base, running: false }, false, false],
    ['paused', { ...base, paused: true }, false, false],
    ['stopping (SIGTERM sent)', { ...base, stopping: true }, false, false],
    ['health starting', { ...base, health: 'starting' }, false, false],
    ['healthy', { ...base, health: 'healthy' }, false, true],
    ['unhealthy', { ...base, health: 'unhealthy' }, false, false],
    ['unhealthy with --ignore-health', { ...base, health: 'unhealthy' }, true, true],
  ] as const) {
    it(`publishable: ${name} → ${want}`, () => assert.equal(isPublishable(facts, ignoreHealth), want));
  }
});

describe('sidekicks: docker events', () => {
  it('parses a health_status event', () => {
    const ev = parseDockerEvent(
      JSON.stringify({ Type: 'container', Action: 'health_status: healthy', Actor: { ID: 'abc', Attributes: { name: 'web' } }, timeNano: 1700000000123456789 }),
    );
    assert.equal(ev?.action, 'health_status');
    assert.equal(ev?.detail, 'healthy');
    assert.equal(ev?.attributes.name, 'web');
  });

  it('parses a kill event with its signal', () => {
    const ev = parseDockerEvent(JSON.stringify({ Type: 'container', Action: 'kill', Actor: { ID: 'abc', Attributes: { signal: '15' } }, timeNano: 1 }));
    assert.equal(ev?.detail, '15');
    assert.equal(isStopSignal(ev?.detail), true);
  });

  it('ignores other event types and junk', () => {
    assert.equal(parseDockerEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } })), undefined);
    assert.equal(parseDockerEvent('{not json'), undefined);
  });

  for (const [signal, stop] of [['15', true], ['2', true], ['9', true], ['SIGTERM', true], ['1', false], ['SIGHUP', false], ['10', false]] as const) {
    it(`signal ${signal} ${stop ? 'stops' : 'does not stop'} the container`, () => assert.equal(isStopSignal(signal), stop));
  }
});
