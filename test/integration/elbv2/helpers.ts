import {
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { PoolView, ServicePool } from '../../../lbsync/output.js';
import type { ServiceRecord } from '../../../registry/index.js';
import { SdkTargetGroupApi, type ActualTarget, type Target, type TargetGroupApi } from '../../../lbsync/elbv2/index.js';
import { Elbv2TestEndpoint, MotoServer, type Elbv2EndpointOptions } from '../../elbv2/index.js';

/** Fake static credentials: the access key id tags the caller in the endpoint's call log. */
export const creds = (accessKeyId = 'AKIDTEST') => ({ accessKeyId, secretAccessKey: 'not-a-secret' });

/** A real SDK client pointed at a local endpoint. */
export function sdkClient(url: string, accessKeyId = 'AKIDTEST', maxAttempts = 3): ElasticLoadBalancingV2Client {
  return new ElasticLoadBalancingV2Client({ endpoint: url, region: 'us-east-1', credentials: creds(accessKeyId), maxAttempts });
}

/** A record for service `service` at host:port. */
export function record(service: string, n: number, host: string, port: number): ServiceRecord {
  return { service, instance: `${service}-${n}`, host, port };
}

/** A view where every record is passing, stable for `stableForMs`. */
export function viewOf(services: Record<string, ServiceRecord[]>, stableForMs = 600_000, revision = 1): PoolView {
  const pools: ServicePool[] = Object.entries(services)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, members]) => ({ service, members, endpoints: members.map((r) => ({ record: r, health: 'passing' as const })), failOpen: false }));
  return { pools, revision, stableForMs };
}

/**
 * A server the driver runs against: our endpoint or moto. Ids differ per
 * backend because moto keys targets by Id only: on moto every endpoint gets
 * its own loopback address.
 */
export interface Backend {
  name: 'endpoint' | 'moto';
  url: string;
  endpoint?: Elbv2TestEndpoint;
  /** Creates an ip target group in the backend's VPC and returns its ARN. */
  createGroup(name: string, port?: number): Promise<string>;
  /** Registered targets, draining included, as DescribeTargetHealth reports them. */
  targets(arn: string): Promise<ActualTarget[]>;
  /** Deregisters a target by hand, as an operator in the console would. */
  deregisterByHand(arn: string, target: Target): Promise<void>;
  /** The address of endpoint n: distinct Ids on both backends. */
  host(n: number): string;
  close(): Promise<void>;
}

/** Our faithful endpoint, with fast health (initial → healthy after 300 ms) and a short drain by default. */
export async function endpointBackend(options: Elbv2EndpointOptions & { drainSeconds?: number } = {}): Promise<Backend & { endpoint: Elbv2TestEndpoint }> {
  const endpoint = await new Elbv2TestEndpoint({ healthyAfterMs: 300, ...options }).start();
  const admin = sdkClient(endpoint.url, 'AKIDADMIN');
  const api = new SdkTargetGroupApi({ endpoint: endpoint.url, region: 'us-east-1', credentials: creds('AKIDADMIN') });
  return {
    name: 'endpoint',
    url: endpoint.url,
    endpoint,
    async createGroup(name, port = 80) {
      const out = await admin.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: port, VpcId: 'vpc-0123456789abcdef0', TargetType: 'ip' }));
      const arn = out.TargetGroups![0]!.TargetGroupArn!;
      await admin.send(
        new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(options.drainSeconds ?? 30) }] }),
      );
      return arn;
    },
    targets: (arn) => Promise.resolve(endpoint.state.targetsOf(arn).map((t) => ({ id: t.id, port: t.port, state: t.state }))),
    async deregisterByHand(arn, target) {
      await admin.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: target.id, Port: target.port }] }));
    },
    host: () => '127.0.0.1',
    async close() {
      admin.destroy();
      api.close();
      await endpoint.stop();
    },
  };
}

/** moto's server with a VPC of 127.0.0.0/16. */
export async function motoBackend(): Promise<Backend> {
  const moto = await new MotoServer().start();
  const vpcId = await moto.createVpc('127.0.0.0/16');
  const admin = sdkClient(moto.url, 'AKIDADMIN');
  const api = new SdkTargetGroupApi({ endpoint: moto.url, region: 'us-east-1', credentials: creds('AKIDADMIN') });
  return {
    name: 'moto',
    url: moto.url,
    async createGroup(name, port = 80) {
      const out = await admin.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: port, VpcId: vpcId, TargetType: 'ip' }));
      return out.TargetGroups![0]!.TargetGroupArn!;
    },
    targets: (arn) => api.describeTargets(arn),
    async deregisterByHand(arn, target) {
      await admin.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: target.id, Port: target.port }] }));
    },
    host: (n) => `127.0.1.${n}`,
    async close() {
      admin.destroy();
      api.close();
      await moto.stop();
    },
  };
}

/** Registered targets that are not draining (what still receives new connections). */
export function active(targets: ActualTarget[]): ActualTarget[] {
  return targets.filter((t) => t.state !== 'draining' && t.reason !== 'Target.NotRegistered');
}

/** `id:port` strings, sorted: what tests compare. */
export function keysOf(targets: Target[]): string[] {
  return targets.map((t) => `${t.id}:${t.port}`).sort();
}

/**
 * Wraps an API so that after every write it reads the group back and records
 * how many targets are registered and not draining: the make-before-break
 * guarantee is checked at every step, on any backend.
 */
export class WatchingApi implements TargetGroupApi {
  readonly minActive = new Map<string, number>();

  constructor(
    private readonly inner: TargetGroupApi,
    private readonly read: (arn: string) => Promise<ActualTarget[]>,
  ) {}

  describeTargets(arn: string): Promise<ActualTarget[]> {
    return this.inner.describeTargets(arn);
  }

  async registerTargets(arn: string, targets: Target[]): Promise<void> {
    await this.inner.registerTargets(arn, targets);
    await this.observe(arn);
  }

  async deregisterTargets(arn: string, targets: Target[]): Promise<void> {
    await this.inner.deregisterTargets(arn, targets);
    await this.observe(arn);
  }

  close(): void {
    this.inner.close();
  }

  private async observe(arn: string): Promise<void> {
    const count = active(await this.read(arn)).length;
    this.minActive.set(arn, Math.min(this.minActive.get(arn) ?? Infinity, count));
  }
}
