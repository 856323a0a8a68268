import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2ClientConfig,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ActualTarget } from './plan.js';
import type { Target } from './targets.js';

/** The three ELBv2 calls the output makes. One implementation per backend; tests may pass a fake. */
export interface TargetGroupApi {
  /** DescribeTargetHealth: every registered target with its state. */
  describeTargets(targetGroupArn: string): Promise<ActualTarget[]>;
  registerTargets(targetGroupArn: string, targets: Target[]): Promise<void>;
  deregisterTargets(targetGroupArn: string, targets: Target[]): Promise<void>;
  close(): void;
}

/** How to build the SDK client. Unset fields come from the SDK's standard chain (env, profile, IMDS). */
export interface Elbv2ClientOptions {
  endpoint?: string;
  region?: string;
  /** Static credentials (tests); the standard provider chain when absent. */
  credentials?: ElasticLoadBalancingV2ClientConfig['credentials'];
  /** Attempts per call, the SDK's standard retry strategy spacing them (default 5). */
  maxAttempts?: number;
  /** `standard` (default) or `adaptive` (adds client-side rate limiting under throttling). */
  retryMode?: 'standard' | 'adaptive';
}

/** The SDK v3 client behind {@link TargetGroupApi}. */
export class SdkTargetGroupApi implements TargetGroupApi {
  readonly client: ElasticLoadBalancingV2Client;

  constructor(options: Elbv2ClientOptions = {}) {
    this.client = new ElasticLoadBalancingV2Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Throttling and 5xx are retried inside each call; our own backoff spaces whole passes.
      maxAttempts: options.maxAttempts ?? 5,
      retryMode: options.retryMode ?? 'standard',
    });
  }

  async describeTargets(targetGroupArn: string): Promise<ActualTarget[]> {
    const out = await this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
    return (out.TargetHealthDescriptions ?? []).flatMap((d) => {
      if (!d.Target?.Id || d.Target.Port === undefined) return [];
      return [{ id: d.Target.Id, port: d.Target.Port, state: d.TargetHealth?.State ?? 'unavailable', ...(d.TargetHealth?.Reason ? { reason: d.TargetHealth.Reason } : {}) }];
    });
  }

  async registerTargets(targetGroupArn: string, targets: Target[]): Promise<void> {
    await this.client.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets.map((t) => ({ Id: t.id, Port: t.port })) }));
  }

  async deregisterTargets(targetGroupArn: string, targets: Target[]): Promise<void> {
    await this.client.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets.map((t) => ({ Id: t.id, Port: t.port })) }));
  }

  close(): void {
    this.client.destroy();
  }
}
