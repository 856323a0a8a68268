import assert from 'node:assert/strict';
import type { ServiceRecord } from '../../../registry/index.js';
import {
  defaultServiceName,
  defineServices,
  imageBaseName,
  normaliseDigest,
  type ContainerFacts,
  type DefinitionContext,
} from '../../../sidekicks/index.js';

const ID = 'dca363b9af75e1f2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890';

function container(over: Partial<ContainerFacts> = {}): ContainerFacts {
  return {
    id: ID,
    name: 'web01',
    image: 'example/web:2.1',
    labels: {},
    env: [],
    ports: [{ port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 }],
    exposed: [{ port: 80, proto: 'tcp' }],
    networkIp: '172.17.0.5',
    running: true,
    paused: false,
    health: 'none',
    ...over,
  };
}

const ctx: DefinitionContext = { node: 'core01', hostAddress: '10.0.0.9' };

interface Case {
  name: string;
  facts: Partial<ContainerFacts>;
  ctx?: Partial<DefinitionContext>;
  /** Expected fields of each record, in port order. */
  records: Array<Partial<ServiceRecord>>;
  refusals?: Array<{ field: string; rule?: RegExp; port?: number }>;
}

const cases: Case[] = [
  {
    name: 'image base name, instance <node>:<name>:<port>, binding host and port',
    facts: {},
    records: [{ service: 'web', instance: 'core01:web01:80', host: '127.0.0.1', port: 18001, proto: 'tcp', node: 'core01', container: ID.slice(0, 12) }],
  },
  {
    name: 'SERVICE_NAME from env',
    facts: { env: ['SERVICE_NAME=api', 'PATH=/bin'] },
    records: [{ service: 'api' }],
  },
  {
    name: 'a label wins over the same env variable',
    facts: { env: ['SERVICE_NAME=from-env'], labels: { SERVICE_NAME: 'from-label' } },
    records: [{ service: 'from-label' }],
  },
  {
    name: 'swarm service name first, then compose, then image',
    facts: { labels: { 'com.docker.swarm.service.name': 'shop_web', 'com.docker.compose.service': 'compose-web' } },
    records: [{ service: 'shop_web' }],
  },
  {
    name: 'compose service name before the image',
    facts: { labels: { 'com.docker.compose.service': 'frontend' } },
    records: [{ service: 'frontend' }],
  },
  {
    name: 'several published ports: <name>-<port> by default',
    facts: {
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 443, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18443 },
      ],
    },
    records: [
      { service: 'web-80', instance: 'core01:web01:80', port: 18001 },
      { service: 'web-443', instance: 'core01:web01:443', port: 18443 },
    ],
  },
  {
    name: 'several ports: SERVICE_<port>_NAME for one, the default for the other',
    facts: {
      labels: { SERVICE_443_NAME: 'secure' },
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 443, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18443 },
      ],
    },
    records: [{ service: 'web-80' }, { service: 'secure' }],
  },
  {
    name: 'several ports with SERVICE_NAME: the name as is (registrator), instances differ by port',
    facts: {
      env: ['SERVICE_NAME=app'],
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 81, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18002 },
      ],
    },
    records: [
      { service: 'app', instance: 'core01:web01:80' },
      { service: 'app', instance: 'core01:web01:81' },
    ],
  },
  {
    name: 'SERVICE_ID sets the instance',
    facts: { labels: { SERVICE_ID: 'web01' } },
    records: [{ instance: 'web01' }],
  },
  {
    name: 'tags: the per-port list overrides the general one',
    facts: {
      labels: { SERVICE_TAGS: 'a,b', SERVICE_443_TAGS: 'tls' },
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 443, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18443 },
      ],
    },
    records: [{ tags: ['a', 'b'] }, { tags: ['tls'] }],
  },
  {
    name: 'SERVICE_IGNORE skips the container',
    facts: { env: ['SERVICE_IGNORE=true'] },
    records: [],
  },
  {
    name: 'SERVICE_IGNORE=false does not',
    facts: { env: ['SERVICE_IGNORE=false'] },
    records: [{ service: 'web' }],
  },
  {
    name: 'SERVICE_<port>_IGNORE skips one port',
    facts: {
      labels: { SERVICE_443_IGNORE: '1' },
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 443, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18443 },
      ],
    },
    records: [{ service: 'web-80', port: 18001 }],
  },
  {
    name: 'check fields go into record.check; a bare sha1 digest is accepted',
    facts: {
      labels: {
        SERVICE_CHECK_HTTP: '/health.php',
        SERVICE_CHECK_INTERVAL: '5s',
        SERVICE_CHECK_TIMEOUT: '2s',
        SERVICE_CHECK_EXPECT_DIGEST: 'dbe72348d4e3aa87958f421e4a9592a82839f3d8',
      },
    },
    records: [{ check: { http: '/health.php', interval: '5s', timeout: '2s', expectDigest: 'sha1:dbe72348d4e3aa87958f421e4a9592a82839f3d8' } }],
  },
  {
    name: 'SERVICE_CHECK_TCP',
    facts: { env: ['SERVICE_CHECK_TCP=true'] },
    records: [{ check: { tcp: true } }],
  },
  {
    name: 'other SERVICE_<KEY> into meta (lowercased), merged over the node meta',
    facts: { env: ['SERVICE_REGION=us-east', 'SERVICE_ZONE=b'] },
    ctx: { nodeMeta: { instanceId: 'i-0abc', zone: 'a' } },
    records: [{ meta: { instanceId: 'i-0abc', zone: 'b', region: 'us-east' } }],
  },
  {
    name: 'node meta alone',
    facts: {},
    ctx: { nodeMeta: { instanceId: 'i-0123456789abcdef0' } },
    records: [{ meta: { instanceId: 'i-0123456789abcdef0' } }],
  },
  {
    name: 'binding on 0.0.0.0: --advertise-ip',
    facts: { ports: [{ port: 80, proto: 'tcp', hostIp: '0.0.0.0', hostPort: 18001 }] },
    ctx: { advertiseIp: '10.1.2.3' },
    records: [{ host: '10.1.2.3' }],
  },
  {
    name: 'binding on 0.0.0.0 without --advertise-ip: the detected host address',
    facts: { ports: [{ port: 80, proto: 'tcp', hostIp: '0.0.0.0', hostPort: 18001 }] },
    records: [{ host: '10.0.0.9' }],
  },
  {
    name: 'a specific binding address beats --advertise-ip',
    facts: { ports: [{ port: 80, proto: 'tcp', hostIp: '127.0.0.2', hostPort: 18001 }] },
    ctx: { advertiseIp: '10.1.2.3' },
    records: [{ host: '127.0.0.2' }],
  },
  {
    name: 'exposed but not published: nothing',
    facts: { ports: [] },
    records: [],
  },
  {
    name: '--internal: container address and exposed port',
    facts: { ports: [], exposed: [{ port: 8080, proto: 'tcp' }] },
    ctx: { internal: true },
    records: [{ host: '172.17.0.5', port: 8080, instance: 'core01:web01:8080' }],
  },
  {
    name: '--network host: exposed ports at the advertised address',
    facts: { ports: [], exposed: [{ port: 8080, proto: 'tcp' }], networkIp: undefined, hostNetwork: true },
    ctx: { advertiseIp: '10.0.0.7' },
    records: [{ host: '10.0.0.7', port: 8080, instance: 'core01:web01:8080' }],
  },
  {
    name: '--network host without --advertise-ip: the detected host address',
    facts: { ports: [], exposed: [{ port: 8080, proto: 'tcp' }], networkIp: undefined, hostNetwork: true },
    records: [{ host: '10.0.0.9', port: 8080 }],
  },
  {
    name: '--internal without a network address is refused',
    facts: { networkIp: undefined },
    ctx: { internal: true },
    records: [],
    refusals: [{ field: 'host' }],
  },
  {
    name: 'udp: proto and an instance suffix',
    facts: { image: 'dns', ports: [{ port: 53, proto: 'udp', hostIp: '127.0.0.1', hostPort: 1053 }] },
    records: [{ service: 'dns', proto: 'udp', instance: 'core01:web01:53:udp' }],
  },
  {
    name: 'uppercase container name is lowercased in the default instance',
    facts: { name: 'Web_01' },
    records: [{ instance: 'core01:web_01:80' }],
  },
  {
    name: 'a too long default instance falls back to the short container id',
    facts: { name: 'a'.repeat(70) },
    records: [{ instance: `core01:${ID.slice(0, 12)}:80` }],
  },
  {
    name: 'an explicit name that breaks the charset is refused, naming the field',
    facts: { labels: { SERVICE_NAME: 'Web Site' } },
    records: [],
    refusals: [{ field: 'service', rule: /a-z, 0-9/, port: 80 }],
  },
  {
    name: 'a bad check path is refused',
    facts: { labels: { SERVICE_CHECK_HTTP: 'health' } },
    records: [],
    refusals: [{ field: 'check.http' }],
  },
  {
    name: 'a bad interval is refused',
    facts: { labels: { SERVICE_CHECK_INTERVAL: 'soon' } },
    records: [],
    refusals: [{ field: 'check.interval' }],
  },
  {
    name: 'a meta value with quotes is refused',
    facts: { env: ['SERVICE_NOTE=say "hi"'] },
    records: [],
    refusals: [{ field: 'meta.note' }],
  },
  {
    name: 'one bad port does not hide the good one',
    facts: {
      labels: { SERVICE_443_NAME: 'BAD!' },
      ports: [
        { port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18001 },
        { port: 443, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18443 },
      ],
    },
    records: [{ service: 'web-80' }],
    refusals: [{ field: 'service', port: 443 }],
  },
  {
    name: 'since is the container start time',
    facts: { startedAt: '2026-01-02T03:04:05.123456789Z' },
    records: [{ since: '2026-01-02T03:04:05.123456789Z' }],
  },
];

describe('sidekicks: service definition (registrator-compatible)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const def = defineServices(container(c.facts), { ...ctx, ...c.ctx });
      assert.equal(def.records.length, c.records.length, `records: ${JSON.stringify(def.records)} refusals: ${JSON.stringify(def.refusals)}`);
      c.records.forEach((want, i) => {
        const got = def.records[i]!;
        for (const [key, value] of Object.entries(want)) assert.deepEqual(got[key as keyof ServiceRecord], value, `record ${i} field ${key}`);
      });
      assert.equal(def.refusals.length, c.refusals?.length ?? 0, `refusals: ${JSON.stringify(def.refusals)}`);
      c.refusals?.forEach((want, i) => {
        const got = def.refusals[i]!;
        assert.equal(got.field, want.field);
        assert.equal(got.container, container(c.facts).name);
        if (want.rule) assert.match(got.rule, want.rule);
        if (want.port !== undefined) assert.equal(got.port, want.port);
      });
    });
  }

  describe('imageBaseName', () => {
    for (const [image, base] of [
      ['nginx', 'nginx'],
      ['nginx:1.25', 'nginx'],
      ['registry.local:5000/org/app:1.2', 'app'],
      ['org/app@sha256:0123456789abcdef', 'app'],
      ['beacon-test/busybox:latest@sha256:abc', 'busybox'],
    ] as const) {
      it(`${image} → ${base}`, () => assert.equal(imageBaseName(image), base));
    }
  });

  it('an image referenced by id falls back to the container name', () => {
    assert.equal(defaultServiceName({ labels: {}, image: 'sha256:4c1f2a3b4c5d', name: 'mongo' }), 'mongo');
  });

  describe('normaliseDigest', () => {
    for (const [input, out] of [
      ['dbe72348d4e3aa87958f421e4a9592a82839f3d8', 'sha1:dbe72348d4e3aa87958f421e4a9592a82839f3d8'],
      ['sha1:dbe72348d4e3aa87958f421e4a9592a82839f3d8', 'sha1:dbe72348d4e3aa87958f421e4a9592a82839f3d8'],
      ['a'.repeat(64), `sha256:${'a'.repeat(64)}`],
    ] as const) {
      it(`${input.slice(0, 12)}… → ${out.slice(0, 12)}…`, () => assert.equal(normaliseDigest(input), out));
    }
  });
});
