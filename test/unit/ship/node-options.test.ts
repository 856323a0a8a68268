import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BEACON_NODE_OPTIONS } from '../../harness/index.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** The NODE_OPTIONS value an image's Dockerfile sets. */
function imageNodeOptions(dockerfile: string): string[] | undefined {
  const text = readFileSync(`${REPO}docker/${dockerfile}`, 'utf8');
  const value = /^\s*NODE_OPTIONS=("[^"]*"|\S+)/m.exec(text)?.[1];
  return value?.replace(/^"|"$/g, '').trim().split(/\s+/);
}

describe('the Node options beacon runs with', () => {
  it('come from the executable\'s first line (#!/usr/bin/env -S node …)', () => {
    assert.ok(BEACON_NODE_OPTIONS.some((o) => o.startsWith('--max-semi-space-size=')), `got ${JSON.stringify(BEACON_NODE_OPTIONS)}`);
  });

  for (const dockerfile of ['sidekick.Dockerfile', 'lbsync.Dockerfile']) {
    it(`are the same in ${dockerfile} (its entrypoint runs node itself)`, () => {
      assert.deepEqual(imageNodeOptions(dockerfile), BEACON_NODE_OPTIONS);
    });
  }
});
