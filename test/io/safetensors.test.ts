import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HsrError } from '../../src/errors.js';
import { encodeSafetensors, SafetensorsFile } from '../../src/io/safetensors.js';
import { parseShardIndex, ShardedCheckpoint } from '../../src/io/sharded.js';
import { encodeF16, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from '../../src/tensor/half.js';

const isCode = (code: string) => (e: unknown) => e instanceof HsrError && e.code === code;

/** A file from a hand-written header object and a data buffer, so tests can lie in the header. */
function craft(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test('F32, F16 and BF16 tensors round-trip through encodeSafetensors → SafetensorsFile.parse', () => {
  const values = new Float32Array([0, 1, -2.5, 0.099975586, 65504, -1e-7, 3.140625]);
  const file = SafetensorsFile.parse(encodeSafetensors({
    a: { dtype: 'F32', shape: [7], data: values },
    b: { dtype: 'F16', shape: [1, 7], data: values },
    c: { dtype: 'BF16', shape: [7, 1], data: values },
    ids: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 0, 255]) },
  }, { format: 'pt' }));
  assert.deepEqual(file.names(), ['a', 'b', 'c', 'ids']);
  assert.deepEqual(file.metadata, { format: 'pt' });
  assert.deepEqual([...file.float32('a').data], [...values]);
  assert.deepEqual(file.float32('b').shape, [1, 7]);
  const f16 = file.float32('b').data, bf16 = file.float32('c').data;
  for (let i = 0; i < values.length; i++) {
    assert.equal(f16[i], f16BitsToNumber(numberToF16Bits(values[i]!)));
    assert.ok(Math.abs(f16[i]! - values[i]!) <= Math.max(Math.abs(values[i]!) * 2 ** -11, 2 ** -25));
    assert.ok(Math.abs(bf16[i]! - values[i]!) <= Math.abs(values[i]!) * 2 ** -8);
  }
  assert.deepEqual([...file.float32('ids').data], [7, 0, 255]);
  assert.deepEqual([...file.raw('ids')], [7, 0, 255]);
  assert.throws(() => file.float32('nope'), isCode('NOT_FOUND'));
});

test('F16 decoding is exact for every bit pattern and encoding rounds to nearest', () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToNumber(h);
    if (Number.isNaN(x)) continue;
    assert.equal(numberToF16Bits(x), h === 0x8000 ? 0x8000 : h, `bits ${h}`);
  }
  fc.assert(fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
    const y = f16BitsToNumber(numberToF16Bits(x));
    const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(x) || 2 ** -24)), -14) - 10);
    return Math.abs(y - x) <= ulp / 2 + 1e-30;
  }));
  assert.equal(numberToBF16Bits(1), 0x3f80);
  assert.equal(numberToF16Bits(1e6), 0x7c00);
});

test('encodeF16 gives numberToF16Bits\'s bits for every exponent, ties, the range edges and specials', () => {
  // Random mantissas under every float32 exponent and both signs, plus each exponent's ties
  // (bit 12 set, lower bits clear: even and odd halves) and all-ones mantissas (carry).
  const words: number[] = [];
  let s = 12345;
  for (let e = 0; e < 256; e++) for (const sign of [0, 0x80000000]) {
    for (let k = 0; k < 40; k++) { s = (s * 1103515245 + 12345) >>> 0; words.push((sign | (e << 23) | (s & 0x7fffff)) >>> 0); }
    for (const m of [0, 0x1000, 0x3000, 0x7fffff, 0x7ff000, 0x7fefff]) words.push((sign | (e << 23) | m) >>> 0);
  }
  const src = new Float32Array(Uint32Array.from(words).buffer), out = new Uint16Array(src.length);
  encodeF16(src, out);
  src.forEach((x, i) => assert.equal(out[i], numberToF16Bits(x), `bits 0x${words[i]!.toString(16)}`));
  for (const x of [65504, 65519.99, 65520, -65536, 2 ** -14, 2 ** -14 * (1 - 2 ** -12), 2 ** -25, 0, -0]) {
    encodeF16(Float32Array.of(x), out);
    assert.equal(out[0], numberToF16Bits(x), String(x));
  }
});

test('tensors at odd offsets decode correctly (unaligned data is copied, not misread)', () => {
  const header = { odd: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, f: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } };
  const data = new Uint8Array(9);
  data[0] = 5;
  new DataView(data.buffer).setFloat32(1, 1.5, true);
  new DataView(data.buffer).setFloat32(5, -2, true);
  const file = SafetensorsFile.parse(craft(header, data));
  assert.deepEqual([...file.float32('f').data], [1.5, -2]);
});

test('malformed files give MALFORMED_FILE or BAD_DTYPE, never a crash or a huge allocation', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data = new Uint8Array(8);
  SafetensorsFile.parse(craft(ok, data));
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'MALFORMED_FILE'],
    ['shorter than the header length', new Uint8Array(7), 'MALFORMED_FILE'],
    ['header length past the end', craft(ok, data, 10_000), 'MALFORMED_FILE'],
    ['header length ≥ 2^32', (() => { const b = craft(ok, data); b[12] = 1; return b; })(), 'MALFORMED_FILE'],
    ['truncated data', craft(ok, data).subarray(0, craft(ok, data).length - 1), 'MALFORMED_FILE'],
    ['not JSON', craft(ok, data, 5), 'MALFORMED_FILE'],
    ['header not an object', craft([1, 2], data), 'MALFORMED_FILE'],
    ['unknown dtype', craft({ t: { dtype: 'F12', shape: [2], data_offsets: [0, 8] } }, data), 'BAD_DTYPE'],
    ['offsets outside the data', craft({ t: { dtype: 'U8', shape: [9], data_offsets: [0, 9] } }, data), 'MALFORMED_FILE'],
    ['begin after end', craft({ t: { dtype: 'U8', shape: [0], data_offsets: [4, 2] } }, data), 'MALFORMED_FILE'],
    ['huge shape', craft({ t: { dtype: 'F32', shape: [2 ** 40, 2 ** 12], data_offsets: [0, 8] } }, data), 'MALFORMED_FILE'],
    ['shape/size mismatch', craft({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), 'MALFORMED_FILE'],
    ['negative shape', craft({ t: { dtype: 'U8', shape: [-1], data_offsets: [0, 8] } }, data), 'MALFORMED_FILE'],
    ['overlap', craft({ a: { dtype: 'U8', shape: [5], data_offsets: [0, 5] }, b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } }, data), 'MALFORMED_FILE'],
    ['bad metadata', craft({ __metadata__: { a: 1 } }, data), 'MALFORMED_FILE'],
    ['entry not an object', craft({ t: 3 }, data), 'MALFORMED_FILE'],
  ];
  for (const [what, bytes, code] of cases) {
    assert.throws(() => SafetensorsFile.parse(bytes, what), isCode(code), what);
  }
  const f8 = SafetensorsFile.parse(craft({ t: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, data));
  assert.equal(f8.raw('t').length, 8);
  assert.throws(() => f8.float32('t'), isCode('BAD_DTYPE'));
});

test('random byte corruption of a valid file never escapes as anything but HsrError', () => {
  const good = encodeSafetensors({ a: { dtype: 'F16', shape: [3, 2], data: new Float32Array(6).fill(1) } });
  fc.assert(fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: good.length }),
    (at, byte, keep) => {
      const bad = good.slice(0, keep);
      if (at < bad.length) bad[at] = byte;
      try {
        const f = SafetensorsFile.parse(bad);
        for (const n of f.names()) f.raw(n);
      } catch (e) {
        return e instanceof HsrError;
      }
      return true;
    }), { numRuns: 500 });
});

test('a sharded checkpoint resolves each tensor through the index weight_map', () => {
  const s1 = SafetensorsFile.parse(encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } }));
  const s2 = SafetensorsFile.parse(encodeSafetensors({ y: { dtype: 'F32', shape: [1], data: new Float32Array([2]) } }));
  const map = parseShardIndex(JSON.stringify({ metadata: {}, weight_map: { x: 'a.safetensors', y: 'b.safetensors' } }));
  const ck = new ShardedCheckpoint(map, new Map([['a.safetensors', s1], ['b.safetensors', s2]]));
  assert.deepEqual(ck.names(), ['x', 'y']);
  assert.equal(ck.float32('y').data[0], 2);
  assert.throws(() => new ShardedCheckpoint(new Map([['y', 'a.safetensors']]), new Map([['a.safetensors', s1]])), isCode('MALFORMED_FILE'));
  assert.throws(() => new ShardedCheckpoint(map, new Map([['a.safetensors', s1]])), isCode('NOT_FOUND'));
  assert.throws(() => parseShardIndex('{"weight_map": {"x": "../etc/passwd"}}'), isCode('MALFORMED_FILE'));
  assert.throws(() => parseShardIndex('{}'), isCode('MALFORMED_FILE'));
  assert.throws(() => parseShardIndex('{'), isCode('MALFORMED_FILE'));
});
