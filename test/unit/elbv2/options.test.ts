import assert from 'node:assert/strict';
import { Command } from 'commander';
import { ValidationError } from '../../../registry/index.js';
import { parseElbv2Options, withElbv2Options } from '../../../lbsync/elbv2/index.js';

const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';
const ARN2 = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/fedcba9876543210';

describe('elbv2 options', () => {
  it('is off without --elbv2-target-group', () => {
    assert.equal(parseElbv2Options({}), undefined);
  });

  it('applies defaults', () => {
    const o = parseElbv2Options({ elbv2TargetGroup: [`web=${ARN}`] })!;
    assert.deepEqual([...o.targetGroups], [['web', ARN]]);
    assert.equal(o.targetType, 'ip');
    assert.equal(o.health, 'pool');
    assert.equal(o.maxRemove, 0.5);
    assert.equal(o.driftMs, 60_000);
    assert.equal(o.graceMs, 30_000);
    assert.equal(o.electionTtlSeconds, 10);
    assert.equal(o.dryRun, false);
    assert.equal(o.endpoint, undefined);
  });

  it('parses every flag through commander', () => {
    const cmd = withElbv2Options(new Command('lbsync').option('--dry-run')).exitOverride();
    cmd.parse(
      ['--elbv2-target-group', `web=${ARN}`, '--elbv2-target-group', `api=${ARN2}`, '--elbv2-endpoint', 'http://127.0.0.1:4566', '--elbv2-region', 'eu-west-1',
        '--elbv2-target-type', 'instance', '--elbv2-health', 'elb', '--elbv2-max-remove', '25%', '--elbv2-drift', '10s', '--elbv2-grace', '5s', '--elbv2-election-ttl', '3s', '--dry-run'],
      { from: 'user' },
    );
    const o = parseElbv2Options(cmd.opts())!;
    assert.equal(o.targetGroups.size, 2);
    assert.equal(o.targetGroups.get('api'), ARN2);
    assert.equal(o.endpoint, 'http://127.0.0.1:4566');
    assert.equal(o.region, 'eu-west-1');
    assert.equal(o.targetType, 'instance');
    assert.equal(o.health, 'elb');
    assert.equal(o.maxRemove, 0.25);
    assert.equal(o.driftMs, 10_000);
    assert.equal(o.graceMs, 5000);
    assert.equal(o.electionTtlSeconds, 3);
    assert.equal(o.dryRun, true);
  });

  const bad: Array<[string, Parameters<typeof parseElbv2Options>[0], RegExp]> = [
    ['no =', { elbv2TargetGroup: 'web' }, /SERVICE=ARN/],
    ['bad service name', { elbv2TargetGroup: `Web!=${ARN}` }, /service/],
    ['bad ARN', { elbv2TargetGroup: 'web=arn:aws:ec2:x' }, /ARN must look like/],
    ['service mapped twice', { elbv2TargetGroup: [`web=${ARN}`, `web=${ARN2}`] }, /mapped twice/],
    ['target type', { elbv2TargetGroup: `web=${ARN}`, elbv2TargetType: 'lambda' }, /ip or instance/],
    ['health', { elbv2TargetGroup: `web=${ARN}`, elbv2Health: 'both' }, /pool .* elb/],
    ['max remove', { elbv2TargetGroup: `web=${ARN}`, elbv2MaxRemove: '150%' }, /percentage/],
    ['drift unit', { elbv2TargetGroup: `web=${ARN}`, elbv2Drift: '60' }, /unit/],
    ['drift too short', { elbv2TargetGroup: `web=${ARN}`, elbv2Drift: '10ms' }, /at least 1s/],
    ['endpoint', { elbv2TargetGroup: `web=${ARN}`, elbv2Endpoint: 'ftp://x' }, /http\(s\) URL/],
    ['region', { elbv2TargetGroup: `web=${ARN}`, elbv2Region: 'mars' }, /region/],
    ['election ttl', { elbv2TargetGroup: `web=${ARN}`, elbv2ElectionTtl: '1s' }, /at least 2s/],
  ];
  for (const [name, flags, message] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => parseElbv2Options(flags), (err: unknown) => err instanceof ValidationError && message.test(err.message));
    });
  }
});
