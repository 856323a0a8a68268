import assert from 'node:assert/strict';
import { Help } from 'commander';
import { SUBCOMMANDS } from '../../../cli/subcommands.js';

// `beacon --help` lists the subcommands from a table, without loading them;
// the table must say what each module itself says.
describe('the subcommand listing of `beacon --help`', () => {
  for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
    it(`matches ${name}'s own usage and description`, async () => {
      const cmd = await sub.load();
      assert.equal(cmd.name(), name);
      assert.equal(sub.term, new Help().subcommandTerm(cmd));
      assert.equal(sub.summary, cmd.description());
    });
  }
});
