import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/cli.js';
import { encodeNpy, encodeSafetensors } from '../../src/index.js';
import { rng } from '../../bench/lib/measure.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `hsr-attn …` in this process, capturing stdout. */
async function run(...argv: string[]): Promise<{ status: number; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  // Only our string writes: the test runner reports through stdout too, in binary chunks.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? (stdout += chunk, true) : write(chunk, ...rest))) as typeof process.stdout.write;
  try {
    return { status: await main(argv), stdout };
  } finally {
    process.stdout.write = write;
  }
}

function tensors(n: number, d: number) {
  const r = rng(9), g = (len: number) => Float32Array.from({ length: len }, () => r.gauss());
  return { q: g(2 * n * d), k: g(n * d), v: g(n * d) };
}

test('analyze FILE --json reads a safetensors dump and a .npy folder identically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-analyze-'));
  try {
    const n = 64, d = 8, t = tensors(n, d);
    writeFileSync(join(dir, 'dump.safetensors'), encodeSafetensors({
      'blocks.3.q': { dtype: 'F32', shape: [2, n, d], data: t.q },
      'blocks.3.k': { dtype: 'F32', shape: [1, n, d], data: t.k },
      'blocks.3.v': { dtype: 'F32', shape: [1, n, d], data: t.v },
    }));
    writeFileSync(join(dir, 'q.npy'), encodeNpy(t.q, [2, n, d]));
    writeFileSync(join(dir, 'k.npy'), encodeNpy(t.k, [1, n, d]));
    writeFileSync(join(dir, 'v.npy'), encodeNpy(t.v, [1, n, d]));
    const a = await run('analyze', join(dir, 'dump.safetensors'), '--layer-prefix', 'blocks.', '--queries', '5', '--json');
    assert.equal(a.status, 0);
    const ja = JSON.parse(a.stdout);
    assert.equal(ja.layers.length, 1);
    assert.equal(ja.layers[0].layer, '3');
    assert.equal(ja.layers[0].perHead.length, 2);
    const b = await run('analyze', dir, '--queries', '5', '--json');
    const jb = JSON.parse(b.stdout);
    assert.deepEqual(jb.layers[0].perHead, ja.layers[0].perHead);
    const human = await run('analyze', join(dir, 'k.npy'), '--queries', '5');
    assert.match(human.stdout, /effective rank/);
    assert.equal((await run('analyze', join(dir, 'dump.safetensors'), '--queries', '5')).status, 1); // no layers.N.q
    assert.equal((await run('analyze')).status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('analyze on the real dev dump (bytelm-10m layer 2): bounds hold, certified within 1.5× of the oracle', async () => {
  const r = await run('analyze', join(root, 'data/dev_c_l2.safetensors'), '--queries', '2', '--json');
  assert.equal(r.status, 0);
  const [layer] = JSON.parse(r.stdout).layers;
  assert.equal(layer.n, 8192);
  assert.equal(layer.perHead.length, 6);
  for (const h of layer.perHead) {
    for (const c of h.certified) {
      assert.equal(c.violations, 0);
      assert.ok(c.tvMax <= c.boundMax && c.boundMax <= c.epsilon);
      assert.ok(c.usedOverOracle >= 1 && c.usedOverOracle < 1.5, `used/oracle ${c.usedOverOracle}`);
    }
    assert.ok(h.paper.keptFraction > 0 && h.paper.keptFraction < 0.2);
  }
  for (const k of layer.keys) assert.ok(k.effectiveRank > 1 && k.effectiveRank < 64);
});
