// Fuzz suite for the file parsers (safetensors, .npy, the shard index): fast-check builds headers
// from parts — lengths, offsets, shapes, dtypes, version bytes — valid or not, then truncates or
// pads the file. Every input must give an HsrError or a correct parse: never another exception,
// and never an allocation beyond the file's size (decoded tensors at most 4 bytes per stored byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HsrError } from '../../src/errors.js';
import { SafetensorsFile, SAFETENSORS_DTYPES, shapeSize } from '../../src/io/safetensors.js';
import { parseNpy } from '../../src/io/npy.js';
import { parseShardIndex } from '../../src/io/sharded.js';
import { readSafetensors } from '../../src/node/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'hsr-fuzz-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `parse`; an HsrError is a fine answer, anything else thrown fails the property. */
function hsrOr<T>(parse: () => T): T | null {
  try {
    return parse();
  } catch (e) {
    if (e instanceof HsrError) return null;
    throw new Error(`expected an HsrError or a parse, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
}

/** Bytes of live ArrayBuffers now (after a collection when exposed). */
const liveBuffers = () => process.memoryUsage().arrayBuffers;

const smallInt = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(-1, 0.5, 2 ** 31, 2 ** 53, 1e300, NaN));
const dtype = fc.oneof(fc.constantFrom(...Object.keys(SAFETENSORS_DTYPES)), fc.constantFrom('F128', '', 'f32', 7 as unknown as string));

/** A header entry: sometimes consistent (offsets match the shape), often not. */
const entry = fc.record({
  dtype,
  shape: fc.oneof(fc.array(smallInt, { maxLength: 4 }), fc.constantFrom('x' as unknown as number[], null as unknown as number[])),
  begin: smallInt,
  extra: fc.oneof(fc.constant(0), smallInt),
  consistent: fc.boolean(),
});

const safetensorsCase = fc.record({
  entries: fc.dictionary(fc.string({ maxLength: 6 }), entry, { maxKeys: 4 }),
  metadata: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()))),
  lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -20, max: 20 }), fc.constantFrom(2 ** 32, 2 ** 40, 1e9)),
  dataBytes: fc.integer({ min: 0, max: 600 }),
  cut: fc.oneof(fc.constant(Infinity), fc.nat({ max: 800 })),
  garbage: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 40 })),
  /** Half the cases keep the layout valid (dtypes, shapes, offsets, length field), so correct parses are checked too. */
  clean: fc.boolean(),
});

/** Encodes a (possibly lying) safetensors file from the generated parts. */
type SafetensorsCase = typeof safetensorsCase extends fc.Arbitrary<infer T> ? T : never;

function craft(generated: SafetensorsCase): Uint8Array {
  const c = generated.clean ? {
    ...generated, lengthDelta: 0, cut: Infinity, garbage: null, metadata: undefined,
    entries: Object.fromEntries(Object.entries(generated.entries).map(([k, e]) => [k, {
      ...e, consistent: true, dtype: Object.hasOwn(SAFETENSORS_DTYPES, e.dtype as string) ? e.dtype : 'F32',
      shape: Array.isArray(e.shape) ? e.shape.map((x) => (Number.isSafeInteger(x) && x >= 0 ? x % 13 : 1)) : [2],
    }])),
  } : generated;
  const header: Record<string, unknown> = {};
  if (c.metadata !== undefined) header.__metadata__ = c.metadata;
  let at = 0;
  for (const [name, e] of Object.entries(c.entries)) {
    const size = (SAFETENSORS_DTYPES as Record<string, number>)[e.dtype as string] ?? 1;
    const valid = Array.isArray(e.shape) && e.shape.every((s) => Number.isSafeInteger(s) && s >= 0 && s < 13);
    const n = valid ? shapeSize(e.shape) * size : Number.isSafeInteger(e.extra) && e.extra >= 0 ? Math.min(e.extra, 64) : 0;
    const begin = e.consistent ? at : e.begin;
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [begin, begin + (e.consistent ? n : e.extra)] };
    if (e.consistent) at += n;
  }
  const json = c.garbage ?? new TextEncoder().encode(JSON.stringify(header));
  const dataBytes = Math.max(at, c.dataBytes);
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  const dv = new DataView(bytes.buffer);
  const len = json.length + c.lengthDelta;
  dv.setUint32(0, len >>> 0, true);
  dv.setUint32(4, Math.floor(Math.max(0, len) / 2 ** 32) >>> 0, true);
  bytes.set(json, 8);
  for (let i = 8 + json.length; i < bytes.length; i++) bytes[i] = (i * 37) & 0xff;
  return bytes.subarray(0, Math.min(bytes.length, c.cut));
}

/** A parsed file is correct: every tensor lies inside the file, its size matches its shape, and it decodes. */
function checkSafetensors(f: SafetensorsFile, fileSize: number): void {
  for (const name of f.names()) {
    const t = f.info(name);
    assert.ok(t.byteOffset >= 8 && t.byteOffset + t.byteLength <= fileSize, `${name} inside the file`);
    assert.equal(shapeSize(t.shape) * SAFETENSORS_DTYPES[t.dtype], t.byteLength);
    assert.equal(f.raw(name).length, t.byteLength);
    const decoded = hsrOr(() => f.float32(name));
    if (decoded) assert.equal(decoded.data.length, shapeSize(t.shape));
  }
}

test('safetensors: generated headers, lengths, offsets, dtypes and truncations give HsrError or a correct parse, in memory and from disk', () => {
  let parsed = 0, files = 0;
  fc.assert(fc.property(safetensorsCase, (c) => {
    const bytes = craft(c);
    const before = liveBuffers();
    const f = hsrOr(() => SafetensorsFile.parse(bytes));
    if (f) { checkSafetensors(f, bytes.length); parsed++; }
    assert.ok(liveBuffers() - before <= 4 * bytes.length + (1 << 20), 'no allocation beyond the file size');
    // The same bytes through the Node reader (header first, tensors read on demand).
    const path = join(dir, `f${files++ % 8}.safetensors`);
    writeFileSync(path, bytes);
    const g = hsrOr(() => readSafetensors(path));
    assert.equal(g === null, f === null, 'disk and memory readers agree on accepting');
    if (g) {
      checkSafetensors(g, bytes.length);
      for (const name of g.names()) assert.deepEqual(g.raw(name), f!.raw(name));
    }
  }), { numRuns: 400 });
  assert.ok(parsed > 20, `some generated files are valid (${parsed})`);
});

const npyCase = fc.record({
  major: fc.oneof(fc.constantFrom(1, 2, 3), fc.integer({ min: 0, max: 255 })),
  descr: fc.oneof(fc.constantFrom('<f4', '<f8', '<f2', '|u1', '|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '|b1', '>f4', '>i2'), fc.string({ maxLength: 5 })),
  fortran: fc.constantFrom('False', 'True', 'maybe'),
  shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(-3, 2 ** 40, 99999999999999999999)), { maxLength: 4 }),
  shapeText: fc.option(fc.string({ maxLength: 8 }), { freq: 5 }),
  lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -12, max: 12 }), fc.constant(2 ** 31)),
  dataDelta: fc.oneof(fc.constant(0), fc.integer({ min: -9, max: 9 })),
  cut: fc.oneof(fc.constant(Infinity), fc.nat({ max: 400 })),
  magic: fc.boolean(),
  /** Half the cases keep every part but descr and shape valid, so correct parses are checked too. */
  clean: fc.boolean(),
});

const NPY_SIZES: Record<string, number> = { f2: 2, f4: 4, f8: 8, i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8, b1: 1 };

test('.npy: generated versions, header dicts, shapes, lengths and truncations give HsrError or a correct parse', () => {
  let parsed = 0;
  fc.assert(fc.property(npyCase, (generated) => {
    const c = generated.clean
      ? { ...generated, major: 1 + (generated.major % 3), fortran: 'False', shape: generated.shape.map((x) => (Number.isSafeInteger(x) && x >= 0 ? x % 10 : 2)),
        shapeText: null, lengthDelta: 0, dataDelta: 0, cut: Infinity, magic: true }
      : generated;
    const shapeText = c.shapeText ?? (c.shape.length === 1 ? `(${c.shape[0]},)` : `(${c.shape.join(', ')})`);
    const header = new TextEncoder().encode(`{'descr': '${c.descr}', 'fortran_order': ${c.fortran}, 'shape': ${shapeText}, }\n`);
    const size = NPY_SIZES[c.descr.slice(1)] ?? 1;
    const n = c.shape.every((s) => Number.isSafeInteger(s) && s >= 0 && s < 10) ? shapeSize(c.shape) : 3;
    const lenBytes = c.major === 1 ? 2 : 4;
    const body = Math.max(0, n * size + c.dataDelta);
    const bytes = new Uint8Array(8 + lenBytes + header.length + body);
    bytes.set(c.magic ? [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] : [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x58]);
    bytes[6] = c.major; bytes[7] = 0;
    const dv = new DataView(bytes.buffer);
    const len = header.length + c.lengthDelta;
    if (lenBytes === 2) dv.setUint16(8, len & 0xffff, true); else dv.setUint32(8, len >>> 0, true);
    bytes.set(header, 8 + lenBytes);
    for (let i = 8 + lenBytes + header.length; i < bytes.length; i++) bytes[i] = (i * 53) & 0xff;
    const file = bytes.subarray(0, Math.min(bytes.length, c.cut));
    const before = liveBuffers();
    const a = hsrOr(() => parseNpy(file));
    assert.ok(liveBuffers() - before <= 4 * file.length + (1 << 20), 'no allocation beyond the file size');
    if (a) {
      parsed++;
      assert.equal(a.data.length, shapeSize(a.shape));
      assert.ok(shapeSize(a.shape) * NPY_SIZES[a.dtype]! <= file.length);
    }
  }), { numRuns: 400 });
  assert.ok(parsed > 20, `some generated files are valid (${parsed})`);
});

test('shard index: generated JSON gives HsrError or a weight map whose every shard name stays inside the folder', () => {
  const name = fc.oneof(fc.constantFrom('.', '..', '', '/etc/x', 'a/../b', 'ok.safetensors', 'sub/ok.safetensors', './x', 'a\\..\\b'), fc.string({ maxLength: 8 }));
  const json = fc.oneof(
    fc.record({ weight_map: fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(name, fc.integer(), fc.constant(null))) }),
    fc.record({ weight_map: fc.oneof(fc.constant(null), fc.array(fc.string()), fc.string()) }),
    fc.jsonValue(),
  );
  fc.assert(fc.property(json, fc.boolean(), fc.nat({ max: 40 }), (value, cut, at) => {
    const text = JSON.stringify(value) ?? '';
    const map = hsrOr(() => parseShardIndex(cut ? text.slice(0, at) : text));
    if (map) {
      for (const file of map.values()) {
        assert.ok(typeof file === 'string' && !file.startsWith('/'), file);
        assert.ok(file.split(/[\\/]/).every((p) => p !== '' && p !== '.' && p !== '..'), file);
      }
    }
  }), { numRuns: 400 });
});
