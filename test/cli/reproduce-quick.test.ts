import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/cli.js';
import { assertWellFormedXml } from '../report/xml.js';

const PLOTS = ['sparsity.svg', 'relu-model-layers.svg', 'softmax-error.svg', 'perplexity.svg', 'decode-softmax.svg', 'decode-relu.svg',
  'prefill-softmax.svg', 'prefill-relu.svg', 'equal-budget.svg'];

test('reproduce --quick writes report.md, well-formed SVG plots and results.json with sane numbers', { timeout: 240_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'hsr-reproduce-'));
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  // Only our string writes: the test runner reports through stdout too, in binary chunks.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? (stdout += chunk, true) : write(chunk, ...rest))) as typeof process.stdout.write;
  try {
    const status = await main(['reproduce', '--quick', '--out', out, '--json']);
    process.stdout.write = write;
    assert.equal(status, 0);
    assert.deepEqual(JSON.parse(stdout).files.sort(), ['report.md', 'results.json', ...PLOTS].sort());
    assert.deepEqual(readdirSync(out).sort(), ['report.md', 'results.json', ...PLOTS].sort());   // no temp files left

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const h of ['## 1. Sparsity', '## 2. Exactness', '## 3. Error', '## 4. Time', '## 5. Reviewer questions', 'Parallel speedup', 'equal budget']) assert.ok(md.includes(h), h);
    for (const p of PLOTS) {
      assert.ok(md.includes(`](${p})`), `report.md links ${p}`);
      const { root, elements } = assertWellFormedXml(readFileSync(join(out, p), 'utf8'));
      assert.equal(root, 'svg');
      assert.ok((elements.get('polyline') ?? 0) + (elements.get('circle') ?? 0) + (elements.get('rect') ?? 0) > 3, `${p} draws data`);
    }

    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    // 1: the Gaussian exponent is near the exact expectation (slightly under 4/5 by the √ln n factor).
    assert.ok(Math.abs(r.gaussian.fit.exponent - r.gaussian.expectedFit.exponent) < 0.03, `exponent ${r.gaussian.fit.exponent}`);
    assert.ok(r.gaussian.fit.exponent > 0.7 && r.gaussian.fit.exponent < 0.82);
    // 2: ReLU sparse equals dense, on synthetic and real data and through the model.
    for (const c of r.relu.cases) {
      assert.ok(c.maxErrorVsDense <= 1e-5, `ReLU α=${c.alpha} ${c.index}: ${c.maxErrorVsDense}`);
      assert.ok(c.maxErrorVsReference <= 1e-5);
    }
    assert.ok(r.relu.maxNllDifference <= 1e-5, `ReLU model |ΔNLL| ${r.relu.maxNllDifference}`);
    assert.ok(r.relu.sparse.total.usedFraction < 1 && r.relu.sparse.total.usedFraction > 0);
    // 3: certified mode never drops more than ε; dense bits/byte is a plausible value for this model.
    for (const p of r.softmaxError) if (p.family === 'certified') assert.ok(p.tvMax <= p.parameter && p.boundMax <= p.parameter);
    assert.ok(r.perplexity.dense.bitsPerByte > 0.5 && r.perplexity.dense.bitsPerByte < 3);
    assert.ok(Math.abs(r.perplexity.flash.bitsPerByte - r.perplexity.dense.bitsPerByte) < 1e-3);
    const cert = r.perplexity.runs.find((x: { mode: string }) => x.mode === 'certified ε=0.01');
    assert.ok(Math.abs(cert.bitsPerByte - r.perplexity.dense.bitsPerByte) < 0.05);
    // 4, 5: every timing positive; budget runs at matched average keys.
    for (const d of [...r.decode, ...r.prefill]) for (const p of d.points) for (const v of Object.values(p.ms)) assert.ok((v as number) > 0);
    for (const b of r.budget.runs) assert.ok(Math.abs(b.total.usedFraction - r.budget.runs[0].total.usedFraction) < 0.1, b.mode);
    assert.ok(r.overhead.every((o: { buildMs: number }) => o.buildMs > 0));
  } finally {
    process.stdout.write = write;
    rmSync(out, { recursive: true, force: true });
  }
});
