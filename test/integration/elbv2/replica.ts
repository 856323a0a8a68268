/**
 * One lbsync replica's ELBv2 side, as a child process for the election tests:
 * an etcd client, the writer election and the ELBv2 output. Driven over the
 * IPC channel (`view`, `close`); reports `leader`, `applied`, `warning` and `error`.
 * Ends by itself once the parent disconnects, or by SIGKILL to simulate a crash.
 */
import { Etcd3 } from 'etcd3';
import type { PoolView } from '../../../lbsync/output.js';
import { createElbv2Output, type Elbv2Options } from '../../../lbsync/elbv2/index.js';

interface ReplicaConfig {
  etcd: string;
  endpoint: string;
  accessKeyId: string;
  targetGroups: Array<[string, string]>;
  ttlSeconds: number;
  driftMs: number;
  graceMs: number;
}

type Message = { type: 'view'; view: PoolView } | { type: 'close' };

const config = JSON.parse(process.argv[2]!) as ReplicaConfig;
const send = (message: unknown) => process.send?.(message);
const etcd = new Etcd3({ hosts: config.etcd.replace(/^http:\/\//, '') });
const options: Elbv2Options = {
  targetGroups: new Map(config.targetGroups),
  endpoint: config.endpoint,
  region: 'us-east-1',
  targetType: 'ip',
  health: 'pool',
  maxRemove: 0.5,
  driftMs: config.driftMs,
  graceMs: config.graceMs,
  dryRun: false,
  electionTtlSeconds: config.ttlSeconds,
  electionName: 'beacon-test-elbv2',
};
const output = createElbv2Output(options, {
  etcd,
  client: { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: 'not-a-secret' } },
  leaderId: config.accessKeyId,
});
output.on('leader', (leader) => send({ type: 'leader', leader }));
output.on('failed', (err) => send({ type: 'error', message: err.message }));
output.on('warning', (e) => send({ type: 'warning', code: e.error.code }));

process.on('message', (message: Message) => {
  if (message.type === 'view') {
    output.apply(message.view).then(
      (outcome) => send({ type: 'applied', outcome }),
      (err: Error) => send({ type: 'error', message: err.message }),
    );
  } else if (message.type === 'close') {
    void output.close().then(() => {
      etcd.close();
      send({ type: 'closed' });
      process.disconnect();
    });
  }
});
process.on('disconnect', () => {
  void output.close().finally(() => etcd.close());
});
send({ type: 'ready' });
