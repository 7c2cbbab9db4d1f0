import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HsrError } from '../../src/errors.js';
import { encodeNpy, parseNpy } from '../../src/io/npy.js';

const isCode = (code: string) => (e: unknown) => e instanceof HsrError && e.code === code;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

// Written by numpy 2.4 (np.save), so the reader is checked against the format's own implementation.
const NUMPY_F2_2x3 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAwQC+ALgAOAA+AEE=';
const NUMPY_BIG_ENDIAN_I4 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAQAAAAIAAAADAAAABA==';
const NUMPY_FORTRAN_F4 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/AACAPwAAgD8=';

test('parseNpy reads files written by numpy: float16 and big-endian int32', () => {
  const a = parseNpy(b64(NUMPY_F2_2x3));
  assert.equal(a.dtype, 'f2');
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual([...a.data], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
  const b = parseNpy(b64(NUMPY_BIG_ENDIAN_I4));
  assert.ok(b.data instanceof Int32Array);
  assert.deepEqual([...b.data], [0, 1, 2, 3, 4]);
});

test('Fortran-order arrays are refused with a clear UNSUPPORTED error', () => {
  assert.throws(() => parseNpy(b64(NUMPY_FORTRAN_F4)), (e: unknown) => isCode('UNSUPPORTED')(e) && /fortran_order/.test((e as Error).message));
});

test('encodeNpy → parseNpy round-trips every typed array kind, with a 64-byte aligned header', () => {
  const arrays = [new Float32Array([1.5, -2, 3]), new Float64Array([Math.PI, 0, -1]), new Int32Array([-5, 7, 1 << 30]),
    new Uint8Array([0, 255, 9]), new Int8Array([-128, 0, 127]), new Uint16Array([1, 65535, 2]), new Int16Array([-1, 2, -3]), new Uint32Array([4e9, 0, 1])];
  for (const data of arrays) {
    const bytes = encodeNpy(data, [3, 1]);
    const dataStart = 10 + new DataView(bytes.buffer).getUint16(8, true);
    assert.equal(dataStart % 64, 0);
    const back = parseNpy(bytes);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(back.shape, [3, 1]);
    assert.deepEqual([...back.data], [...data]);
  }
  assert.deepEqual([...parseNpy(encodeNpy(new Float32Array([1, 2.5, 65504]), [3], { dtype: 'f2' })).data], [1, 2.5, 65504]);
  assert.deepEqual(parseNpy(encodeNpy(new Float64Array([2]), [])).shape, []);
  assert.throws(() => encodeNpy(new Float32Array(3), [2, 2]), isCode('SHAPE_MISMATCH'));
});

test('malformed .npy files give MALFORMED_FILE or BAD_DTYPE, including random corruption', () => {
  const good = encodeNpy(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const text = (s: string) => { const b = good.slice(); for (let i = 0; i < s.length; i++) b[10 + i] = s.charCodeAt(i); return b; };
  assert.throws(() => parseNpy(new Uint8Array(3)), isCode('MALFORMED_FILE'));
  assert.throws(() => parseNpy(good.subarray(0, good.length - 1)), isCode('MALFORMED_FILE'));
  assert.throws(() => parseNpy(text("{'descr': '<c8'")), isCode('BAD_DTYPE'));
  assert.throws(() => parseNpy(text("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2)")), isCode('MALFORMED_FILE'));
  assert.throws(() => parseNpy(text("{'descr': '<f4', 'fortran_order': False, 'shape': (9, 9)")), isCode('MALFORMED_FILE'));
  const huge = good.slice(); new DataView(huge.buffer).setUint16(8, 60000, true);
  assert.throws(() => parseNpy(huge), isCode('MALFORMED_FILE'));
  fc.assert(fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
    const bad = good.slice(); bad[at] = byte;
    try { parseNpy(bad); } catch (e) { return e instanceof HsrError; }
    return true;
  }), { numRuns: 500 });
});
