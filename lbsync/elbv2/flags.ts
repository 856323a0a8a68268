import { Option, type Command } from 'commander';
import { ELBV2_DEFAULTS } from './options.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Adds the `--elbv2-*` flags to a command (values stay strings; pass the
 * parsed options object to {@link parseElbv2Options}). `--dry-run` is not
 * added here: lbsync owns it for every output.
 */
export function withElbv2Options(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--elbv2-target-group <service=arn>', 'sync SERVICE into the ELBv2 target group ARN (repeatable); enables the ELBv2 output').argParser(collect),
    )
    .addOption(new Option('--elbv2-endpoint <url>', 'ELBv2 API endpoint for private endpoints and tests (default: the regional AWS endpoint)').env('BEACON_ELBV2_ENDPOINT'))
    .addOption(new Option('--elbv2-region <region>', 'AWS region (default: the SDK chain, AWS_REGION or the profile)').env('BEACON_ELBV2_REGION'))
    .addOption(new Option('--elbv2-target-type <type>', 'register record host+port (ip) or meta.instanceId+port (instance)').choices(['ip', 'instance']).default(ELBV2_DEFAULTS.targetType))
    .addOption(new Option('--elbv2-health <source>', "register passing endpoints (pool) or all of them and let ELB's checks decide (elb)").choices(['pool', 'elb']).default(ELBV2_DEFAULTS.health))
    .addOption(new Option('--elbv2-max-remove <percent>', 'largest share of a group a young view may deregister (safety stop)').default('50%'))
    .addOption(new Option('--elbv2-drift <duration>', 'period of the pass that repairs hand-made changes').default('60s'))
    .addOption(new Option('--elbv2-grace <duration>', 'how long new targets may stay initial before old ones go, and how stable a view must be before large removals').default('30s'))
    .addOption(new Option('--elbv2-election-ttl <duration>', 'lease TTL of the writer election among lbsync replicas; a dead leader is replaced within it').default('10s'))
    .addOption(new Option('--elbv2-election <name>', 'etcd election name shared by the replicas that write the same groups').default(ELBV2_DEFAULTS.electionName));
}
