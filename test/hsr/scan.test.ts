import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HalfSpaceIndex, HsrError, matrix } from '../../src/index.js';

test('scan query(a, b) reports exactly the points with ⟨a,p⟩ ≥ b, ascending', () => {
  const pts = matrix([1, 0, 0, 1, -1, 0, 0.5, 0.5], 4, 2);
  const idx = HalfSpaceIndex.build(pts, { kind: 'scan' });
  assert.deepEqual([...idx.query(new Float32Array([1, 0]), 0.5)], [0, 3]);
  assert.equal(idx.lastQueryStats.pointsScored, 4);
  assert.equal(idx.insert(new Float32Array([2, 2])), 4);
  assert.deepEqual([...idx.query(new Float32Array([1, 0]), 0.5)], [0, 3, 4]);
});

test('build rejects an unknown kind with BAD_OPTION', () => {
  assert.throws(() => HalfSpaceIndex.build(matrix([], 0, 3), { kind: 'nope' }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
});
