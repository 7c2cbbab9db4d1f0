import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { helpText, parseArgs, UsageError } from '../../src/cli/args.js';
import { COMMANDS } from '../../src/cli/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('parseArgs: --name value, --name=value, booleans, defaults, positionals; errors say what was expected', () => {
  const specs = { n: { type: 'integer', help: '', default: 3 }, x: { type: 'number', help: '' }, s: { type: 'string', help: '', choices: ['a', 'b'] }, f: { type: 'boolean', help: '' } } as const;
  assert.deepEqual(parseArgs(['pos', '--x=0.5', '--s', 'b', '--f'], specs), { _: ['pos'], n: 3, x: 0.5, s: 'b', f: true });
  assert.throws(() => parseArgs(['--n', '1.5'], specs), (e: unknown) => e instanceof UsageError && /integer/.test(e.message));
  assert.throws(() => parseArgs(['--s', 'c'], specs), (e: unknown) => e instanceof UsageError && /a\|b/.test(e.message));
  assert.throws(() => parseArgs(['--nope'], specs), UsageError);
  assert.throws(() => parseArgs(['--x'], specs), (e: unknown) => e instanceof UsageError && /value after --x/.test(e.message));
  assert.match(helpText('u', 's', specs), /--n INTEGER\s+\(default 3\)/);
});

test('perplexity --json prints exactly the docs/api.md result, matching the reference NLL', () => {
  const r = cli('perplexity', '--model', 'packages/hsr-attention-models/bytelm-10m', '--text', 'data/dev_c.txt', '--attention', 'dense', '--max-tokens', '96', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out).sort(), ['bitsPerToken', 'keysScored', 'keysUsed', 'nll', 'seconds', 'tokens']);
  assert.equal(out.tokens, 96);
  assert.equal(out.nll.length, 95);
  const ref: number[] = JSON.parse(readFileSync(`${root}data/nll_dev_c.json`, 'utf8')).nll_nat;
  out.nll.forEach((x: number, i: number) => assert.ok(Math.abs(x - ref[i]!) <= 2e-3));
  assert.ok(Math.abs(out.bitsPerToken - out.nll.reduce((a: number, b: number) => a + b, 0) / 95 / Math.LN2) < 1e-9);
  assert.ok(out.seconds > 0 && out.keysScored === out.keysUsed && out.keysUsed === 6 * 6 * 96 * 97 / 2);
  const sparse = JSON.parse(cli('perplexity', '--attention', 'topk', '--top-k', '8', '--max-tokens', '96', '--json').stdout);
  assert.ok(sparse.keysUsed < out.keysUsed);
});

test('perplexity without --json prints a human summary; generate --json returns the continuation and tokens/s', () => {
  const h = cli('perplexity', '--max-tokens', '40', '--attention', 'window', '--window', '8');
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /attention\s+sink\+window 4\+8/);
  assert.match(h.stdout, /bits per token\s+\d/);
  const g = cli('generate', '--prompt', 'import os\nimport sys\n\n\ndef ', '--max-tokens', '16', '--json');
  assert.equal(g.status, 0, g.stderr);
  const out = JSON.parse(g.stdout);
  assert.equal(out.text, '_sys_path_file(f');
  assert.equal(out.tokens, 16);
  assert.ok(out.tokensPerSecond > 0);
});

test('usage errors exit 2 naming the problem; file errors exit 1 with the HsrError code; --help exits 0', () => {
  const bad = cli('perplexity', '--attention', 'bogus');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /expected --attention to be one of/);
  assert.equal(cli('frobnicate').status, 2);
  const missing = cli('perplexity', '--model', 'no/such/dir');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /NOT_FOUND/);
  const noPrompt = cli('generate');
  assert.equal(noPrompt.status, 2);
  const help = cli('--help');
  assert.equal(help.status, 0);
  for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${c.name} `, 'm'));
  const ph = cli('perplexity', '--help');
  for (const flag of ['--model', '--text', '--attention', '--epsilon', '--threshold', '--top-k', '--max-tokens', '--json']) assert.ok(ph.stdout.includes(flag), flag);
});
