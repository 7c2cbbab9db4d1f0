import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HalfSpaceIndex, HsrError, indexKinds, matrix } from '../../src/index.js';

const code = (c: string) => (e: unknown) => e instanceof HsrError && e.code === c && /expected/.test(e.message);

test('bad input gives HsrError with the right code, for every kind', () => {
  for (const kind of indexKinds()) {
    const idx = HalfSpaceIndex.build(matrix([1, 2, 3, 4, 5, 6], 2, 3), { kind });
    const a = new Float32Array([1, 0, 0]);
    assert.throws(() => idx.query(new Float32Array(2), 0), code('DIM_MISMATCH'));
    assert.throws(() => idx.query(new Float32Array([NaN, 0, 0]), 0), code('NON_FINITE'));
    assert.throws(() => idx.query(a, NaN), code('NON_FINITE'));
    assert.throws(() => idx.query(a, Infinity), code('NON_FINITE'));
    assert.throws(() => idx.query([1, 0, 0] as unknown as Float32Array, 0), code('BAD_DTYPE'));
    assert.throws(() => idx.query(a, 0, 3), code('BAD_OPTION'));
    assert.throws(() => idx.query(a, 0, 1.5), code('BAD_OPTION'));
    assert.throws(() => idx.query(a, 0, -1), code('BAD_OPTION'));
    assert.throws(() => idx.insert(new Float32Array(4)), code('DIM_MISMATCH'));
    assert.throws(() => idx.insert(new Float32Array([0, Infinity, 0])), code('NON_FINITE'));
    assert.throws(() => idx.queryBatch([a, a], [0]), code('SHAPE_MISMATCH'));
    assert.throws(() => idx.queryBatch([a, new Float32Array(1)], [0, 0]), code('DIM_MISMATCH'));
    assert.throws(() => idx.queryBatch([a], [NaN]), code('NON_FINITE'));
    assert.throws(() => idx.scoreBounds(a, new Float64Array(1), new Float64Array(2)), code('SHAPE_MISMATCH'));
    assert.throws(() => idx.scoreBounds(a, new Float32Array(2) as unknown as Float64Array, new Float64Array(2)), code('BAD_DTYPE'));
    assert.throws(() => idx.scoreBoundsBatch([a], [new Float64Array(2)], []), code('SHAPE_MISMATCH'));
    idx.scoreBounds(a, new Float64Array(1), new Float64Array(1), 1); // short arrays are fine under a limit
    assert.equal(idx.size, 2, 'failed calls change nothing');
  }
});

test('build rejects bad kinds, leaf sizes and points', () => {
  const pts = matrix([1, 2, 3, 4], 2, 2);
  assert.throws(() => HalfSpaceIndex.build(pts, { kind: 'kd-tree' }), code('BAD_OPTION'));
  for (const leafSize of [0, -1, 1.5, NaN]) {
    assert.throws(() => HalfSpaceIndex.build(pts, { kind: 'ball-tree', leafSize }), code('BAD_OPTION'), `leafSize ${leafSize}`);
  }
  assert.throws(() => HalfSpaceIndex.build({ data: new Float32Array([1, NaN]), rows: 1, cols: 2 }, { kind: 'quantized' }), code('NON_FINITE'));
  assert.throws(() => HalfSpaceIndex.build({ data: new Float32Array(3), rows: 2, cols: 2 }, { kind: 'ball-tree' }), code('SHAPE_MISMATCH'));
});
