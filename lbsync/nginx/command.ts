import { execFile } from 'node:child_process';
import { ValidationError } from '../../registry/index.js';

/** The outcome of running an operator's command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Splits an operator's command line into argv: whitespace separates words,
 * '…' and "…" group them, backslash escapes one character. No shell runs it,
 * so nothing in it is expanded. (Use `sh -c '…'` for pipes and variables.)
 */
export function splitCommand(text: string, field = 'command'): string[] {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new ValidationError(field, 'has an unterminated quote', text);
  if (inWord) argv.push(word);
  if (argv.length === 0) throw new ValidationError(field, 'must not be empty', text);
  return argv;
}

/** Runs argv without a shell; never rejects for a non-zero exit, only reports it. */
export function runArgv(argv: readonly string[], timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      let code = 0;
      if (err) code = typeof err.code === 'number' ? err.code : 127;
      if (err && typeof err.code !== 'number') stderr = `${stderr}${stderr ? '\n' : ''}${err.message}`;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** nginx's own words from `nginx -t` output: the [emerg]/[alert]/[crit]/[error] lines, else everything but the summary. */
export function nginxMessage(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const serious = lines.filter((l) => /\[(emerg|alert|crit|error)\]/.test(l));
  const chosen = serious.length ? serious : lines.filter((l) => !/test failed$/.test(l));
  return chosen.map((l) => l.replace(/^nginx: /, '')).join('; ') || 'no output';
}

/** The main config file nginx names in its `-t` output ("the configuration file X syntax is ok"). */
export function mainConfFromTestOutput(output: string): string | undefined {
  return /configuration file (\S+) (?:syntax is|test is|test failed)/.exec(output)?.[1];
}
