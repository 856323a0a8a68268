#!/usr/bin/env -S node --max-semi-space-size=4 --disable-sigusr1
/**
 * The `beacon` executable: one program, one subcommand per job. This is the
 * only place that exits the process.
 *
 * The Node options on the first line are part of the product.
 * --disable-sigusr1: left to Node, a SIGUSR1 opens the inspector on
 * 127.0.0.1:9229 (code execution for anyone on the host) until a daemon has
 * installed its own handler, which logs and ignores it; with the flag a
 * SIGUSR1 at any moment, start-up included, leaves the inspector closed.
 * --max-semi-space-size=4: beacon's daemons
 * allocate many short-lived objects (events, records, check results), and
 * V8's default young generation (16 MB semi-spaces on 64-bit) lets them pile
 * up to ~100 MB of heap before a scavenge — RSS that buys nothing. With 4 MB
 * semi-spaces lbsync at 10,000 endpoints goes from 330 to 170 MB RSS and the
 * health engine at 2,000 endpoints from 165 to 125 MB, at no measurable cost
 * in latency or CPU (README, Performance). The tests' harness reads this line
 * and runs beacon with the same options; the images set them in NODE_OPTIONS
 * (a test keeps the two in step).
 */
import { enableCompileCache } from 'node:module';
import { Command, CommanderError, Help } from 'commander';
import { readFileSync } from 'node:fs';
import { EXIT } from './exit-codes.js';
import { SUBCOMMANDS } from './subcommands.js';

// Node keeps the compiled code of every module beacon loads in a disk cache
// (os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off):
// etcd3, gRPC and undici then start ~40 % faster from the second run on. Set
// before any subcommand's module loads; where the cache cannot be written
// (a read-only /tmp) Node just compiles as usual.
enableCompileCache();

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('beacon')
  .description('service discovery and load-balancer sync for container hosts: Docker → etcd /services → nginx / AWS ELBv2')
  .version(pkg.version)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  $ beacon sidekick docker --advertise-ip 10.0.0.7     publish this host's containers
  $ beacon lbsync --nginx-conf /etc/nginx/conf.d/beacon.conf
  $ beacon discover web                                  where is "web"?
  $ beacon services                                      everything, with counts

Environment: BEACON_ETCD, BEACON_PREFIX, BEACON_ETCD_USER, BEACON_ETCD_PASSWORD, BEACON_LOG_LEVEL.
Exit codes: 0 ok, 1 failure, 2 bad usage.`,
  );

// `beacon NAME …` and `beacon help NAME` load NAME; anything else gets the listing.
const args = process.argv.slice(2);
const wanted = args[0] === 'help' ? args[1] : args[0];
if (wanted !== undefined && Object.hasOwn(SUBCOMMANDS, wanted)) {
  program.addCommand(await SUBCOMMANDS[wanted]!.load());
  // The subcommand's module has loaded common.js already: no extra cost here.
  (await import('./common.js')).describeDurations(program);
} else {
  for (const [name, sub] of Object.entries(SUBCOMMANDS)) program.command(name).description(sub.summary);
  program.configureHelp({ subcommandTerm: (cmd) => SUBCOMMANDS[cmd.name()]?.term ?? new Help().subcommandTerm(cmd) });
}

// Commander exits with 1 on bad usage; our contract says 2.
program.exitOverride();
for (const sub of program.commands) sub.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Asked-for help and --version exit 0; help shown because a command
    // group got no subcommand (`beacon sidekick`) is bad usage.
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  process.stderr.write(`beacon: ${(err as Error).message}\n`);
  process.exit(err instanceof Error && 'rule' in err ? EXIT.usage : EXIT.failure);
}
