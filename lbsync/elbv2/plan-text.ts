import type { TargetPlan } from './plan.js';
import { targetKey, type Target } from './targets.js';

function list(targets: Target[], max = 5): string {
  const shown = targets.slice(0, max).map(targetKey).join(', ');
  return targets.length > max ? `${shown}, … ${targets.length - max} more` : shown;
}

/**
 * One line a person reads in a log or `--dry-run` output, e.g.
 * `web → tg/web: register 2 [10.0.0.7:80, 10.0.0.8:80]; deregister 1 [10.0.0.3:80]; keep 3`.
 */
export function describePlan(service: string, targetGroupArn: string, plan: TargetPlan): string {
  const group = targetGroupArn.replace(/^.*:targetgroup\//, 'tg/').replace(/\/[0-9a-f]{16}$/, '');
  const register = plan.register.flat();
  const deregister = plan.deregister.flat();
  const parts: string[] = [];
  if (register.length) parts.push(`register ${register.length} [${list(register)}]${plan.reregister.length ? ` (${plan.reregister.length} were draining)` : ''}`);
  if (deregister.length) parts.push(`deregister ${deregister.length} [${list(deregister)}]`);
  parts.push(`keep ${plan.keep.length}`);
  if (plan.hold) parts.push(`held ${plan.heldBack.length} [${list(plan.heldBack)}]: ${plan.hold.reason}`);
  return `${service} → ${group}: ${parts.join('; ')}`;
}
