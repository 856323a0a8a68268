import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../harness/ports.js';
import { startProcess, type Started } from '../harness/processes.js';

/** True when this machine's python3 can import moto (the independent ELBv2 server). */
export function motoAvailable(): boolean {
  try {
    execFileSync('python3', ['-c', 'import moto'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** The message tests skip with when moto is absent. */
export const MOTO_MISSING = 'moto is not installed in python3 (`python3 -c "import moto"` failed): skipping the moto cross-check';

/**
 * moto's server (`python3 -m moto.server`) on a free loopback port: a second,
 * independent ELBv2 implementation. It keys targets by Id only and has no
 * initial/draining states, so tests against it use distinct Ids.
 */
export class MotoServer {
  private proc: Started | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'beacon-moto-'));
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.proc = startProcess('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(this.port)], join(this.dir, 'moto.log'));
    await waitFor(async () => (await fetch(`${this.url}/moto-api/`)).ok, 30_000, `moto on ${this.url}`, 100);
    return this;
  }

  /** Creates a VPC with the given CIDR through moto's EC2 Query API (moto checks that a target group's VPC exists). */
  async createVpc(cidr = '127.0.0.0/16'): Promise<string> {
    const body = new URLSearchParams({ Action: 'CreateVpc', Version: '2016-11-15', CidrBlock: cidr });
    const res = await fetch(this.url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        // moto routes by the service in the credential scope; it does not check signatures.
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDMOTO/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
      },
    });
    const text = await res.text();
    const id = /<vpcId>(vpc-[0-9a-f]+)<\/vpcId>/.exec(text)?.[1];
    if (!res.ok || !id) throw new Error(`moto CreateVpc failed: ${res.status} ${text.slice(0, 200)}`);
    return id;
  }

  /** Stops moto by pid and removes its log dir. */
  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM');
    this.proc = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
