import assert from 'node:assert/strict';
import {
  CreateTargetGroupCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  InvalidTargetException,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
  TooManyTargetsException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ELBV2_XMLNS, Elbv2TestEndpoint, ManualClock } from '../../elbv2/index.js';
import { sdkClient } from './helpers.js';

const VPC = 'vpc-0123456789abcdef0';

/** Rejects with the SDK error, for assert.rejects predicates. */
function isError(ctor: new (...args: never[]) => Error, code: string, status: number) {
  return (err: unknown) => {
    assert.ok(err instanceof ctor, `expected ${ctor.name}, got ${(err as Error).name}: ${(err as Error).message}`);
    assert.equal((err as { Code?: string }).Code, code);
    assert.equal((err as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, status);
    return true;
  };
}

describe('elbv2 test endpoint, driven by the real SDK client', function () {
  let clock: ManualClock;
  let endpoint: Elbv2TestEndpoint;
  let client: ElasticLoadBalancingV2Client;

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000);
    endpoint = await new Elbv2TestEndpoint({ clock, healthyAfterMs: 10_000, maxTargetsPerGroup: 10 }).start();
    client = sdkClient(endpoint.url, 'AKIDREPLICA1', 1);
  });

  afterEach(async () => {
    client.destroy();
    await endpoint.stop();
  });

  async function group(name = 'web', targetType: 'ip' | 'instance' = 'ip'): Promise<string> {
    const out = await client.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 80, VpcId: VPC, TargetType: targetType }));
    return out.TargetGroups![0]!.TargetGroupArn!;
  }

  async function health(arn: string) {
    const out = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    return (out.TargetHealthDescriptions ?? []).map((d) => `${d.Target!.Id}:${d.Target!.Port}=${d.TargetHealth!.State}`).sort();
  }

  it('creates, describes (by ARN, by name, paged) and deletes target groups', async () => {
    const arn = await group('web');
    assert.match(arn, /^arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup\/web\/[0-9a-f]{16}$/);
    assert.equal(await group('web'), arn, 'same name and settings: the same group');
    await assert.rejects(
      client.send(new CreateTargetGroupCommand({ Name: 'web', Protocol: 'HTTP', Port: 81, VpcId: VPC })),
      (err: Error) => err.name === 'DuplicateTargetGroupNameException',
    );
    const api = await group('api');
    const byName = await client.send(new DescribeTargetGroupsCommand({ Names: ['api'] }));
    assert.equal(byName.TargetGroups![0]!.TargetGroupArn, api);
    assert.equal(byName.TargetGroups![0]!.TargetType, 'ip');
    assert.equal(byName.TargetGroups![0]!.Port, 80);
    assert.deepEqual(byName.TargetGroups![0]!.Matcher, { HttpCode: '200' });
    const page1 = await client.send(new DescribeTargetGroupsCommand({ PageSize: 1 }));
    assert.equal(page1.TargetGroups!.length, 1);
    const page2 = await client.send(new DescribeTargetGroupsCommand({ PageSize: 1, Marker: page1.NextMarker! }));
    assert.equal(page2.NextMarker, undefined);
    assert.deepEqual([page1.TargetGroups![0]!.TargetGroupArn, page2.TargetGroups![0]!.TargetGroupArn].sort(), [arn, api].sort());
    await client.send(new DeleteTargetGroupCommand({ TargetGroupArn: api }));
    await assert.rejects(client.send(new DescribeTargetGroupsCommand({ Names: ['api'] })), isError(TargetGroupNotFoundException, 'TargetGroupNotFound', 400));
  });

  it('keys targets by (Id, Port); register is idempotent; initial → healthy on the clock', async () => {
    const arn = await group();
    const targets = [{ Id: '127.0.0.1', Port: 8001 }, { Id: '127.0.0.1', Port: 8002 }];
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targets }));
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targets }));
    assert.deepEqual(await health(arn), ['127.0.0.1:8001=initial', '127.0.0.1:8002=initial']);
    const described = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    assert.equal(described.TargetHealthDescriptions![0]!.TargetHealth!.Reason, 'Elb.RegistrationInProgress');
    clock.advance(10_000);
    assert.deepEqual(await health(arn), ['127.0.0.1:8001=healthy', '127.0.0.1:8002=healthy']);
    // A port omitted means the group's port.
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.2' }] }));
    assert.ok((await health(arn)).includes('127.0.0.2:80=initial'));
  });

  it('deregister drains for deregistration_delay.timeout_seconds, then the target is gone; unknown targets are ignored', async () => {
    const arn = await group();
    const attrs = await client.send(
      new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '20' }] }),
    );
    assert.ok(attrs.Attributes!.some((a) => a.Key === 'deregistration_delay.timeout_seconds' && a.Value === '20'));
    const read = await client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }));
    assert.equal(read.Attributes!.find((a) => a.Key === 'deregistration_delay.timeout_seconds')!.Value, '20');
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 8001 }, { Id: '127.0.0.1', Port: 8002 }] }));
    clock.advance(10_000);
    await client.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 8001 }, { Id: '127.0.0.9', Port: 9 }] }));
    assert.deepEqual(await health(arn), ['127.0.0.1:8001=draining', '127.0.0.1:8002=healthy']);
    clock.advance(19_000);
    assert.deepEqual(await health(arn), ['127.0.0.1:8001=draining', '127.0.0.1:8002=healthy']);
    clock.advance(1_000);
    assert.deepEqual(await health(arn), ['127.0.0.1:8002=healthy']);
    const named = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 8001 }] }));
    assert.deepEqual(named.TargetHealthDescriptions![0]!.TargetHealth, { State: 'unused', Reason: 'Target.NotRegistered', Description: 'Target is not registered to the target group' });
    await assert.rejects(
      client.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '4000' }] })),
      (err: Error) => err.name === 'ValidationError',
    );
  });

  it('validates Ids per target type, ports, limits and ARNs with the errors ELBv2 uses', async () => {
    const arn = await group('ips', 'ip');
    await assert.rejects(
      client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 80 }, { Id: '10.1.2.3', Port: 80 }] })),
      isError(InvalidTargetException, 'InvalidTarget', 400),
    );
    assert.deepEqual(await health(arn), [], 'a refused batch registers nothing');
    await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: 'i-0123456789abcdef0', Port: 80 }] })), InvalidTargetException);
    for (const port of [0, 65536]) {
      await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: port }] })), (err: Error) => err.name === 'ValidationError');
    }
    const instances = await group('instances', 'instance');
    await client.send(new RegisterTargetsCommand({ TargetGroupArn: instances, Targets: [{ Id: 'i-0123456789abcdef0', Port: 8080 }] }));
    await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: instances, Targets: [{ Id: '127.0.0.1', Port: 80 }] })), InvalidTargetException);
    await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: instances, Targets: [{ Id: 'i-xyz', Port: 80 }] })), InvalidTargetException);
    const many = Array.from({ length: 11 }, (_, i) => ({ Id: '127.0.0.1', Port: 9000 + i }));
    await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: many })), isError(TooManyTargetsException, 'TooManyTargets', 400));
    const missing = arn.replace(/[0-9a-f]{16}$/, '0000000000000000');
    await assert.rejects(client.send(new DescribeTargetHealthCommand({ TargetGroupArn: missing })), isError(TargetGroupNotFoundException, 'TargetGroupNotFound', 400));
    await assert.rejects(client.send(new RegisterTargetsCommand({ TargetGroupArn: missing, Targets: [{ Id: '127.0.0.1' }] })), TargetGroupNotFoundException);
    await assert.rejects(client.send(new DescribeTargetHealthCommand({ TargetGroupArn: 'not-an-arn' })), (err: Error) => err.name === 'ValidationError');
  });

  it('refuses instances that are not running when it knows the running set', async () => {
    const strict = await new Elbv2TestEndpoint({ runningInstances: new Set(['i-0aaaaaaaaaaaaaaaa']) }).start();
    const c = sdkClient(strict.url, 'AKIDX', 1);
    try {
      const out = await c.send(new CreateTargetGroupCommand({ Name: 'inst', Protocol: 'HTTP', Port: 80, VpcId: VPC, TargetType: 'instance' }));
      const arn = out.TargetGroups![0]!.TargetGroupArn!;
      await c.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: 'i-0aaaaaaaaaaaaaaaa' }] }));
      await assert.rejects(c.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: 'i-0bbbbbbbbbbbbbbbb' }] })), /not in a running state/);
    } finally {
      c.destroy();
      await strict.stop();
    }
  });

  it('serves scripted faults: Throttling 400, 429, 500, each retried by the SDK', async () => {
    const arn = await group();
    const one = sdkClient(endpoint.url, 'AKIDONE', 1);
    try {
      endpoint.faults.add({ action: 'DescribeTargetHealth', count: 1, kind: 'throttling' });
      await assert.rejects(one.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })), (err: Error) => {
        assert.equal(err.name, 'Throttling');
        assert.equal((err as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 400);
        return true;
      });
      endpoint.faults.add({ action: 'DescribeTargetHealth', count: 1, kind: 'too-many-requests' });
      await assert.rejects(one.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })), (err: Error) =>
        (err as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode === 429);
      endpoint.faults.add({ action: '*', count: 1, kind: 'internal-error' });
      await assert.rejects(one.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })), (err: Error) =>
        (err as unknown as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode === 500);
    } finally {
      one.destroy();
    }
    // The SDK's standard retry strategy rides through a few faults of each kind.
    const retrying = sdkClient(endpoint.url, 'AKIDRETRY', 4);
    try {
      endpoint.faults
        .add({ action: 'RegisterTargets', count: 1, kind: 'throttling', retryAfterMs: 50 })
        .add({ action: 'RegisterTargets', count: 1, kind: 'too-many-requests' })
        .add({ action: 'RegisterTargets', count: 1, kind: 'internal-error' });
      const out = await retrying.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 8001 }] }));
      assert.equal(out.$metadata.attempts, 4);
      assert.equal(endpoint.faults.pending, 0);
      assert.deepEqual(await health(arn), ['127.0.0.1:8001=initial']);
      const attempts = endpoint.calls.find({ action: 'RegisterTargets', caller: 'AKIDRETRY' });
      assert.deepEqual(attempts.map((c) => c.errorCode ?? c.status), ['Throttling', 'TooManyRequestsException', 'InternalFailure', 200]);
    } finally {
      retrying.destroy();
    }
  });

  it('speaks the Query protocol on the wire: XML envelopes, request ids, x-amz-retry-after, auth', async () => {
    const arn = await group();
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(endpoint.url, {
        method: 'POST',
        body: new URLSearchParams(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=AKIDRAW/20240101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0', ...headers },
      });
    const ok = await post({ Action: 'DescribeTargetHealth', Version: '2015-12-01', TargetGroupArn: arn });
    const okText = await ok.text();
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('x-amzn-requestid')!, /^[0-9a-f-]{36}$/);
    assert.ok(okText.includes(`<DescribeTargetHealthResponse xmlns="${ELBV2_XMLNS}"><DescribeTargetHealthResult>`));
    assert.ok(okText.includes(`<ResponseMetadata><RequestId>${ok.headers.get('x-amzn-requestid')}</RequestId></ResponseMetadata>`));

    endpoint.faults.add({ action: 'RegisterTargets', count: 1, kind: 'throttling', retryAfterMs: 1500 });
    const throttled = await post({ Action: 'RegisterTargets', Version: '2015-12-01', TargetGroupArn: arn, 'Targets.member.1.Id': '127.0.0.1' });
    assert.equal(throttled.status, 400);
    assert.equal(throttled.headers.get('x-amz-retry-after'), '1500');
    const text = await throttled.text();
    assert.match(text, new RegExp(`<ErrorResponse xmlns="${ELBV2_XMLNS}"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>${throttled.headers.get('x-amzn-requestid')}</RequestId></ErrorResponse>`));

    const unknown = await post({ Action: 'DescribeLoadBalancerPolicies', Version: '2015-12-01' });
    assert.equal(unknown.status, 400);
    assert.match(await unknown.text(), /<Code>InvalidAction<\/Code>/);
    const oldVersion = await post({ Action: 'DescribeTargetHealth', Version: '2012-06-01', TargetGroupArn: arn });
    assert.equal(oldVersion.status, 400);
    const unsigned = await fetch(endpoint.url, { method: 'POST', body: new URLSearchParams({ Action: 'DescribeTargetGroups', Version: '2015-12-01' }) });
    assert.equal(unsigned.status, 403);
    assert.match(await unsigned.text(), /<Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/);
    const tagged = await post({ Action: 'DescribeTargetGroups', Version: '2015-12-01' }, { 'x-beacon-caller': 'replica-b' });
    assert.equal(tagged.status, 200);
    assert.deepEqual(endpoint.calls.callers().sort(), ['AKIDRAW', 'AKIDREPLICA1', 'anonymous', 'replica-b']);
  });

  it('logs every call with action, parameters and the caller from the SigV4 access key', async () => {
    const arn = await group();
    const other = sdkClient(endpoint.url, 'AKIDREPLICA2', 1);
    try {
      await other.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', Port: 8001 }] }));
    } finally {
      other.destroy();
    }
    const [create] = endpoint.calls.find({ action: 'CreateTargetGroup' });
    assert.equal(create!.caller, 'AKIDREPLICA1');
    assert.equal(create!.params.Name, 'web');
    const [register] = endpoint.calls.find({ action: 'RegisterTargets' });
    assert.equal(register!.caller, 'AKIDREPLICA2');
    assert.equal(register!.params['Targets.member.1.Port'], '8001');
    assert.match(register!.userAgent, /aws-sdk-js/);
    assert.equal(register!.status, 200);
  });
});
