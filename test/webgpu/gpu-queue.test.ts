import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

// bench/webgpu-gpu-queue.txt is run on a GPU machine in one device call of a few minutes, far from
// here: a flag a bench no longer takes, a missing dump or a queue that outgrows the call's budget
// would only show there, after the device time is spent. Checked here, statically.
const TOTAL_S = 540; // bench/webgpu-gpu-run.sh's default budget a call: entries past it are skipped

/** The queue's entries, each with the device call (`call N` lines) it runs in. */
function entries(): { name: string; limit: number; script: string; args: string[]; call: number }[] {
  let call = 1;
  return readFileSync('bench/webgpu-gpu-queue.txt', 'utf8').split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .flatMap((line) => {
      const [name, limit, script, ...args] = line.trim().split(/\s+/);
      if (name === 'call') { call = Number(limit); return []; }
      return [{ name, limit: Number(limit), script, args, call }];
    });
}

/** The long options a bench script declares: parseArgs keys (TypeScript) or add_argument (Python). */
function declaredFlags(script: string): Set<string> {
  const src = readFileSync(script, 'utf8');
  const flags = new Set<string>();
  if (script.endsWith('.py')) {
    for (const m of src.matchAll(/add_argument\(\s*'--([\w-]+)'/g)) flags.add(m[1]);
  } else {
    const block = src.slice(src.indexOf('parseArgs({'), src.indexOf('} })', src.indexOf('parseArgs({')));
    for (const m of block.matchAll(/(?:^|[{,\s])'?([\w-]+)'?\s*:\s*\{\s*type:/g)) flags.add(m[1]);
  }
  return flags;
}

test('the GPU queue: unique names, scripts that take its flags and --out, dumps present, each call within its budget', () => {
  const list = entries();
  assert.ok(list.length > 0, 'the queue has entries');
  assert.equal(new Set(list.map((e) => e.name)).size, list.length, 'entry names are unique (each names its JSON)');
  const total = new Map<number, number>();
  for (const { name, limit, script, args, call } of list) {
    assert.match(name, /^[A-Za-z0-9_-]+$/, `${name}: a name the device's file transfer keeps`);
    assert.ok(Number.isInteger(limit) && limit > 0, `${name}: a limit in seconds, got ${limit}`);
    assert.ok(Number.isInteger(call) && call >= 1, `${name}: a device call numbered from 1, got ${call}`);
    total.set(call, (total.get(call) ?? 0) + limit);
    assert.ok(existsSync(script) && /^bench\/[\w-]+\.(ts|py)$/.test(script), `${name}: a bench script, got ${script}`);
    const flags = declaredFlags(script);
    assert.ok(flags.has('out'), `${name}: ${script} takes --out (the runner appends it)`);
    for (const arg of args) {
      if (arg.startsWith('--')) assert.ok(flags.has(arg.slice(2)), `${name}: ${script} declares ${arg} (declares ${[...flags].join(', ')})`);
      for (const dump of arg.split(',').filter((x) => x.startsWith('data/'))) assert.ok(existsSync(dump), `${name}: ${dump} exists`);
    }
  }
  for (const [call, sum] of total) assert.ok(sum <= TOTAL_S, `call ${call}: the limits sum to ${sum} s, over a call's ${TOTAL_S} s`);
});

test('declaredFlags reads both kinds of script (a parser that finds nothing would pass every queue)', () => {
  assert.ok(declaredFlags('bench/webgpu-sparse-plan.ts').has('workload-n'));
  assert.ok(declaredFlags('bench/webgpu-dense-variants.ts').has('warm-ms'));
  assert.ok(declaredFlags('bench/webgpu_torch_sdpa.py').has('rounds'));
  assert.ok(!declaredFlags('bench/webgpu-dense-variants.ts').has('no-such-flag'));
});
