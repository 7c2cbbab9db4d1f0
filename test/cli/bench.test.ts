import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function bench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'bench', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bench decode --json: every contender per workload, dense agrees with the float64 reference, ratios within the run; --out writes the same JSON', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'hsr-bench-')), 'bench.json');
  const r = bench('decode', '--n', '1024', '--workload', 'llm,real', '--rounds', '2', '--json', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.mode, 'decode');
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).rows, res.rows);
  // onnxruntime-node is a devDependency here, so its row is present (an install without it skips the row).
  const names = ['dense js', 'dense wasm', 'dense wasm 2t', 'onnxruntime 1t', 'KVCache dense', 'dense wasm relu', 'sparse relu^2 exact', 'certified ε=1e-3',
    'certified ε=1e-2', 'top-k 256', 'paper'];
  for (const workload of ['llm', 'real']) {
    const rows = res.rows.filter((x: { workload: string }) => x.workload === workload);
    assert.deepEqual(rows.map((x: { contender: string }) => x.contender), names);
    const [heads, kvHeads] = workload === 'real' ? [6, 2] : [8, 2];
    for (const x of rows) {
      assert.deepEqual(Object.keys(x).sort(), ['baseline', 'contender', 'd', 'heads', 'keysUsedPerHead', 'kind', 'kvHeads', 'maxError', 'mbTouched', 'msPerToken', 'n', 'speedupVsDense', 'tvBound', 'tvDistance', 'workload']);
      assert.equal(x.n, 1024);
      assert.equal(x.heads, heads); assert.equal(x.kvHeads, kvHeads);
      assert.ok(x.msPerToken > 0 && x.speedupVsDense > 0 && x.mbTouched > 0, JSON.stringify(x));
      // The baseline is the fastest dense contender of the same kind and thread count.
      const rivals = rows.filter((y: typeof x) => y.kind === x.kind && /^(dense|onnxruntime|KVCache dense)/.test(y.contender) && /2t$/.test(y.contender) === /2t$/.test(x.contender));
      assert.equal(x.baseline, rivals.reduce((a: typeof x, b: typeof x) => (b.msPerToken < a.msPerToken ? b : a)).contender, JSON.stringify(x));
      assert.ok(x.speedupVsDense <= 1 || !/^(dense|onnxruntime|KVCache dense)/.test(x.contender), 'no dense row beats its own baseline');
      assert.ok(x.keysUsedPerHead >= 1 && x.keysUsedPerHead <= x.n, JSON.stringify(x));
    }
    const by = (name: string) => rows.find((x: { contender: string }) => x.contender === name);
    // Dense kernels and exact sparse ReLU: float32 against the float64 reference.
    for (const name of ['dense js', 'dense wasm', 'dense wasm 2t', 'onnxruntime 1t', 'dense wasm relu', 'sparse relu^2 exact']) {
      assert.ok(by(name).maxError < 1e-4, `${workload} ${name} ${by(name).maxError}`);
    }
    assert.equal(by('dense wasm relu').speedupVsDense, 1);
    assert.equal(by('dense wasm 2t').speedupVsDense, 1);
    // TV distance: measured, within the certified bound, and within ε for the certified modes; 0 for exact rows.
    for (const name of ['dense wasm', 'KVCache dense', 'sparse relu^2 exact']) assert.equal(by(name).tvDistance, 0);
    for (const [name, eps] of [['certified ε=1e-3', 1e-3], ['certified ε=1e-2', 1e-2]] as const) {
      assert.ok(by(name).tvDistance <= by(name).tvBound + 1e-12 && by(name).tvBound <= eps, `${workload} ${name} ${by(name).tvDistance} ${by(name).tvBound}`);
    }
    assert.ok(by('paper').tvDistance > 0 && by('paper').tvDistance <= by('paper').tvBound + 1e-12);
    assert.equal(by('top-k 256').keysUsedPerHead, 256);
    assert.ok(by('sparse relu^2 exact').keysUsedPerHead < 1024 / 4); // bias calibrated to ~2% active keys
  }
  assert.ok(!/ms\/token/.test(r.stdout)); // --json prints only JSON
});

test('bench prefill: a table, or JSON rows of dense vs certified checked against the causal reference; bad options are usage errors', () => {
  const r = bench('prefill', '--n', '256', '--workload', 'gaussian', '--rounds', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gaussian\s+256\s+64\s+dense\s/);
  assert.match(r.stdout, /certified ε=1e-2/);
  assert.match(r.stderr, /bench prefill: done in/);
  const j = bench('prefill', '--n', '128,256', '--workload', 'llm', '--rounds', '1', '--json');
  assert.equal(j.status, 0, j.stderr);
  const rows = JSON.parse(j.stdout).rows;
  assert.deepEqual(rows.map((x: { n: number; contender: string }) => `${x.n} ${x.contender}`),
    ['128 dense', '128 certified ε=1e-2', '128 HSR: build + bounds passes', '256 dense', '256 certified ε=1e-2', '256 HSR: build + bounds passes']);
  for (const x of rows) {
    assert.ok(x.ms > 0 && x.speedupVsDense > 0, JSON.stringify(x));
    if (x.contender === 'dense') assert.ok(x.keptFraction === 1 && x.maxErrorTail < 1e-4, JSON.stringify(x));
    if (x.contender.startsWith('certified')) assert.ok(x.keptFraction > 0 && x.keptFraction <= 1 && x.maxErrorTail < 0.1, JSON.stringify(x));
  }
  assert.equal(bench('--d', '96').status, 2);
  assert.equal(bench('--workload', 'bogus').status, 2);
  assert.equal(bench('sideways').status, 2);
});
