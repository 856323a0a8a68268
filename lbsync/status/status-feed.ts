import type { Elbv2Output } from '../elbv2/elbv2-output.js';
import type { LbSync } from '../lbsync.js';
import type { PoolView } from '../output.js';
import type { StatusModel } from './status-model.js';

/**
 * Feeds a StatusModel from a running daemon's events and, when lbsync drives
 * ELBv2, from that output's events. Subscribe before `daemon.start()` so the
 * first view is seen.
 */
export function feedStatus(model: StatusModel, daemon: LbSync, elbv2?: Elbv2Output): void {
  // lbsync emits a view right before its outputs apply it; the model's
  // bookkeeping (every endpoint of every service) waits until the apply is
  // on its way, so a status page never delays a push. It is caught up before
  // the apply's outcome is recorded.
  let pendingView: PoolView | undefined;
  const catchUp = () => {
    const view = pendingView;
    pendingView = undefined;
    if (view) model.onView(view);
  };
  daemon.on('view', (view) => {
    if (!pendingView) setImmediate(catchUp);
    pendingView = view;
  });
  daemon.on('applied', (output, outcome) => {
    catchUp();
    model.onApplied(output, outcome);
  });
  daemon.on('rejected', (output, err) => {
    catchUp();
    model.onRejected(output, err);
  });
  daemon.on('warning', (output, message) => model.onWarning(output, message));
  daemon.on('problem', (p) => model.onProblem(p.key, p.reason));
  daemon.on('health', (id, state, result) => model.onHealth(id, state, result));
  daemon.on('failOpen', (service, on) => model.onFailOpen(service, on));
  daemon.on('disconnected', (err, retryInMs) => model.onDisconnected(err, retryInMs));
  daemon.on('resumed', () => model.onResumed());
  daemon.on('resynced', (reason, records) => model.onResynced(reason, records));
  if (!elbv2) return;
  elbv2.on('leader', (leader) => model.onElbv2Leader(leader));
  elbv2.on('plan', (e) => {
    if (!e.dryRun) model.onElbv2Plan(e.service, e.plan);
  });
  elbv2.on('registered', (e) => model.onElbv2Targets('registered', e));
  elbv2.on('deregistered', (e) => model.onElbv2Targets('deregistered', e));
  // Refused targets ('rejected') are reported again as 'failed', with the group and targets.
  elbv2.on('warning', (e) => model.onElbv2Error('warn', e.error, e.retryInMs));
  elbv2.on('failed', (e) => model.onElbv2Error('error', e));
  elbv2.on('pass', (e) => model.onElbv2Pass(e));
}
