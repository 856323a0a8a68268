// HEALTHCHECK of beacon's images. Healthy means:
//  - the daemon's metrics endpoint (127.0.0.1:$BEACON_METRICS_PORT/metrics,
//    served from the daemon's own event loop) answers within the timeout,
//    so a dead, wedged or crash-looping daemon is unhealthy; and
//  - in the lbsync image, the nginx master named by $BEACON_NGINX_PID is alive,
//    so a dead nginx (which lbsync can no longer reload) is unhealthy.
// A lost etcd or Docker connection is *not* a liveness failure: the daemons
// reconnect and resync by themselves, and restarting the container would not
// bring etcd back (watch beacon_*_disconnects_total for that).
import { readFileSync } from 'node:fs';

const port = process.env.BEACON_METRICS_PORT;
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};

if (!port) fail('BEACON_METRICS_PORT is not set, so there is nothing to check (run with --no-healthcheck)');
let res;
try {
  res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(4000) });
} catch (err) {
  fail(`no metrics on 127.0.0.1:${port} (${err.cause?.code ?? err.message}); is --metrics-port ${port} in the command?`);
}
if (!res.ok) fail(`metrics on 127.0.0.1:${port} answered ${res.status}`);
await res.text();

const pidFile = process.env.BEACON_NGINX_PID;
if (pidFile) {
  let pid;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 0);
  } catch (err) {
    fail(`nginx is not running (pid file ${pidFile}: ${err.code ?? err.message})`);
  }
}
console.log('healthy');
