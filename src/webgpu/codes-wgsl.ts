/**
 * WGSL of the int8 codes behind the sparse decode plans' certified logit bounds (quantize.ts has
 * the math and its CPU twin): keys are quantized on the GPU, from the caller's K rows as stored, and
 * so is each step's query — a plan over an engine's buffers never needs the CPU.
 *
 * Layouts (plan-owned, by logical position j < stride, whatever the caller's K layout):
 *   codes  [kvHeads, D/16, stride]  vec4u: 16 int8 codes of dims 16i..16i+15 of key j (transposed,
 *                                   so a pass reading one key per thread reads adjacent words)
 *   meta   [kvHeads, stride]        vec4f (s, R, N, 0): key ≈ s·c, R ≥ ‖k − s·c‖, N ≥ ‖k‖
 *   normMax [1]                     u32: the largest N of any key quantized (float bits; N ≥ 0)
 *   qcode  [heads, 2, D/4]          u32: the query's int8 parts hi, lo (q̂ = 128·hi + lo)
 *   coef   [heads]                  vec4f (A, E1, E2, Nq): bounds A·s·o ± (E1·R + E2·N), Nq ≥ ‖q‖
 *
 * Rounding (float32 throughout): with s, a the float32 values the codes were made with, the
 * residuals e = k − s·c and r = q − a·q̂ are computed with two roundings each, so
 * ‖e‖ ≤ ‖ẽ‖·(1 + 2⁻²³) + 2⁻²⁴·‖k‖ (and likewise r); the sums of D ≤ 2048 squares and the square
 * roots add less than 7·10⁻⁵ relative. R, N, E1, E2 and Nq carry the factor 1.0001 and the 2⁻²²·‖k‖
 * (2⁻²²·‖q‖) term, so they bound the real quantities from above; the bounds pass (select-wgsl.ts)
 * covers the rounding of A = fl(scale·a) and of its own products.
 */
import { WG, type Storage } from './wgsl.js';

/** Uniform of the quantize pass: keys [from, from + count) of a K buffer of `cap` rows per KV head. */
export const QUANT_PARAMS = /* wgsl */ `struct QuantParams { first: u32, count: u32, cap: u32, stride: u32 }`;

/** Where key j of KV head kvh lives in the caller's K (attend-kernel.ts AttendShape.layout). */
export type KeyLayout = 'contiguous' | { pageSize: number; kvHeads: number };

/** WGSL: rowOf(kvh, key) of a K/V layout (`cap`: rows per KV head of a contiguous buffer). */
export function rowOfSource(layout: KeyLayout, cap: string): string {
  return `fn rowOf(kvh: u32, key: u32) -> u32 { return ${typeof layout === 'object'
    ? `(pages[key / ${layout.pageSize}u] * ${layout.kvHeads}u + kvh) * ${layout.pageSize}u + key % ${layout.pageSize}u`
    : `kvh * ${cap} + key`}; }`;
}

/**
 * WGSL statements reading dims 8u..8u+7 of K row `row` (the caller's K, bound as array<vec4u> of f16
 * pairs or array<vec4f>) into a0, a1: vec4f — the key quantization passes' one way to read a row.
 */
export function keyUnitSource(D: number, storage: Storage): string {
  const RW = storage === 'f16' ? D / 8 : D / 4;
  return storage === 'f16'
    ? `let w = K[row * ${RW}u + u]; let a0 = vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); let a1 = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));`
    : `let a0 = K[row * ${RW}u + 2u * u]; let a1 = K[row * ${RW}u + 2u * u + 1u];`;
}

/**
 * Key quantization, one thread per key: codes, meta and normMax of keys [from, from + count) of
 * every KV head, read from the caller's K (f16 pairs or f32, contiguous or paged). Dispatch
 * (⌈count / WG⌉, kvHeads).
 */
export function quantizeKeysSource(D: number, storage: Storage, layout: KeyLayout): string {
  const f16 = storage === 'f16', unit = keyUnitSource(D, storage);
  return /* wgsl */ `
const WG = ${WG}u; const U = ${D / 8}u; const W16 = ${D / 16}u;
${QUANT_PARAMS}
@group(0) @binding(0) var<storage, read> K: array<${f16 ? 'vec4u' : 'vec4f'}>;
@group(0) @binding(1) var<storage, read_write> codes: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> keyMeta: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> normMax: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: QuantParams;
${typeof layout === 'object' ? '@group(0) @binding(5) var<storage, read> pages: array<u32>;' : ''}
var<workgroup> localMax: atomic<u32>;
${rowOfSource(layout, 'p.cap')}
fn codes4(a: vec4f, s: f32) -> vec4i { return select(vec4i(0), vec4i(clamp(round(a / s), vec4f(-127.0), vec4f(127.0))), s > 0.0); }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y; let i = wid.x * WG + lid; let j = p.first + i;
  if (lid == 0u) { atomicStore(&localMax, 0u); }
  workgroupBarrier();
  if (i < p.count) {
    let row = rowOf(kvh, j);
    var amax = vec4f(0.0); var n2 = 0.0;
    for (var u = 0u; u < U; u++) {
      ${unit}
      amax = max(amax, max(abs(a0), abs(a1))); n2 += dot(a0, a0) + dot(a1, a1);
    }
    let s = max(max(amax.x, amax.y), max(amax.z, amax.w)) / 127.0;
    var e2 = 0.0; var word = vec4u(0u);
    for (var u = 0u; u < U; u++) {
      ${unit}
      let c0 = codes4(a0, s); let c1 = codes4(a1, s);
      let e0 = a0 - s * vec4f(c0); let e1 = a1 - s * vec4f(c1);
      e2 += dot(e0, e0) + dot(e1, e1);
      if (u % 2u == 0u) { word.x = pack4xI8(c0); word.y = pack4xI8(c1); }
      else { word.z = pack4xI8(c0); word.w = pack4xI8(c1); codes[(kvh * W16 + u / 2u) * p.stride + j] = word; }
    }
    let kn = sqrt(n2);
    let N = kn * 1.0001;
    keyMeta[kvh * p.stride + j] = vec4f(s, (sqrt(e2) + 2.384185791015625e-7 * kn) * 1.0001, N, 0.0);
    atomicMax(&localMax, bitcast<u32>(N));
  }
  workgroupBarrier();
  if (lid == 0u) { atomicMax(&normMax[0], atomicLoad(&localMax)); }
}`;
}

/**
 * WGSL: the certified bounds of one key from its codes (16 dims a word: o = ⟨c, q̂⟩ exactly in int32,
 * two dot4I8Packed per word), est = A·s·o and the half-width E1·R + E2·N, widened by 2⁻²⁰·|est| and
 * the factor 1 + 2⁻²⁰ for the float32 roundings of A = fl(scale·a), of the products and the sum
 * (each ≤ 2⁻²⁴ relative): the real logit lies in [est − width, est + width].
 */
export const BOUND_FNS = /* wgsl */ `
fn codeDot(c: vec4u, hi: vec4u, lo: vec4u) -> i32 {
  return 128 * (dot4I8Packed(c.x, hi.x) + dot4I8Packed(c.y, hi.y) + dot4I8Packed(c.z, hi.z) + dot4I8Packed(c.w, hi.w))
    + dot4I8Packed(c.x, lo.x) + dot4I8Packed(c.y, lo.y) + dot4I8Packed(c.z, lo.z) + dot4I8Packed(c.w, lo.w);
}
fn boundEst(cf: vec4f, mt: vec4f, o: i32) -> f32 { return cf.x * mt.x * f32(o); }
fn boundWidth(cf: vec4f, mt: vec4f, est: f32) -> f32 {
  return (cf.y * mt.y + cf.z * mt.z + abs(est) * 9.5367431640625e-7) * 1.00000095367431640625 + 1e-30;
}`;

/**
 * WGSL: the query's codes (quantize.ts encodeQuery's math) — step a = max|q_i| / (127·128),
 * q̂_i = round(q_i / a) = 128·hi + lo; `quadCode` codes 4 dims (hi and lo packed as int8) and
 * returns their (Σ q̂², Σ r², Σ q²), r = q − a·q̂; `queryCoef` the bound's coefficients (A, E1,
 * E2, ‖q‖) from the head's sums — for the query pass and the fused pass (fused-wgsl.ts) alike.
 */
export const QUERY_CODE_FNS = /* wgsl */ `
struct QuadCode { hi: u32, lo: u32, sums: vec3f }
fn queryStep(maxAbs: f32) -> f32 { return maxAbs / 16256.0; }
fn quadCode(q: vec4f, a: f32) -> QuadCode {
  let qh = select(vec4f(0.0), clamp(round(q / a), vec4f(-16256.0), vec4f(16256.0)), a > 0.0);
  let hi = round(qh / 128.0);
  let r = q - a * qh;
  return QuadCode(pack4xI8(vec4i(hi)), pack4xI8(vec4i(qh - 128.0 * hi)), vec3f(dot(qh, qh), dot(r, r), dot(q, q)));
}
fn queryCoef(scale: f32, a: f32, t: vec3f) -> vec4f {
  let qn = sqrt(t.z);
  return vec4f(scale * a, scale * a * sqrt(t.x) * 1.0001, scale * (sqrt(t.y) + 2.384185791015625e-7 * qn) * 1.0001, qn * 1.0001);
}`;

/**
 * Threads of the query pass's workgroup (one workgroup per head): one sampled key a thread for the
 * anchor, so its loads are in flight together (the pass runs at every step, short ones included).
 */
const QWG = WG;
/** Keys the query pass samples for a head's anchor (the certified histogram's reference). */
const SAMPLES = QWG;

/** Uniform of the query pass. */
export function queryParams(scale: number, n: number, stride: number, groupSize: number): Uint32Array {
  const u = new Uint32Array([0, n, stride, groupSize]);
  new Float32Array(u.buffer)[0] = scale;
  return u;
}

/**
 * The query's codes and bound coefficients, one workgroup per head (quantize.ts encodeQuery's
 * math): a = max|q_i| / (127·128), q̂_i = round(q_i / a) = 128·hi + lo. Queries are [heads, D] f32.
 * Then the head's anchor: the largest upper bound of 256 keys spread over [0, n) — a reference
 * near the top logit for the certified histogram (any value is correct; a near one keeps fewer
 * keys). It also zeroes the head's counters for the passes after it (ids count; certified: its
 * `histWords` histogram words): one pass instead of buffer clears.
 * Dispatch (heads).
 */
export function encodeQuerySource(D: number, mode: 'relu' | 'certified', histWords: number): string {
  return /* wgsl */ `
const QWG = ${QWG}u; const DQ = ${D / 4}u; const W16 = ${D / 16}u; const SAMPLES = ${SAMPLES}u;
struct QueryParams { scale: f32, n: u32, stride: u32, groupSize: u32 }
@group(0) @binding(0) var<storage, read> Q: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> qcode: array<u32>;
@group(0) @binding(2) var<storage, read_write> coef: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> anchor: array<f32>;
@group(0) @binding(4) var<storage, read> codes: array<vec4u>;
@group(0) @binding(5) var<storage, read> keyMeta: array<vec4f>;
@group(0) @binding(6) var<uniform> p: QueryParams;
@group(0) @binding(7) var<storage, read_write> counts: array<u32>;
${mode === 'certified' ? '@group(0) @binding(8) var<storage, read_write> hist: array<u32>;' : ''}
var<workgroup> red: array<vec3f, QWG>;
var<workgroup> hiW: array<u32, DQ>;
var<workgroup> loW: array<u32, DQ>;
var<workgroup> cfW: vec4f;
${BOUND_FNS}
${QUERY_CODE_FNS}
@compute @workgroup_size(${QWG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  if (lid == 0u) { counts[h] = 0u; }
  ${mode === 'certified' ? `for (var i = lid; i < ${histWords}u; i += QWG) { hist[h * ${histWords}u + i] = 0u; }` : ''}
  var m = vec4f(0.0);
  for (var w = lid; w < DQ; w += QWG) { m = max(m, abs(Q[h * DQ + w])); }
  red[lid] = vec3f(max(max(m.x, m.y), max(m.z, m.w)), 0.0, 0.0);
  for (var stride = QWG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid].x = max(red[lid].x, red[lid + stride].x); }
  }
  workgroupBarrier();
  let a = queryStep(red[0].x);
  workgroupBarrier();
  var sums = vec3f(0.0); // Σ q̂², Σ r², Σ q²
  for (var w = lid; w < DQ; w += QWG) {
    let qc = quadCode(Q[h * DQ + w], a);
    sums += qc.sums;
    hiW[w] = qc.hi; loW[w] = qc.lo;
    qcode[h * 2u * DQ + w] = hiW[w];
    qcode[h * 2u * DQ + DQ + w] = loW[w];
  }
  red[lid] = sums;
  for (var stride = QWG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  workgroupBarrier();
  if (lid == 0u) {
    cfW = queryCoef(p.scale, a, red[0]);
    coef[h] = cfW;
  }
  workgroupBarrier();
  let cf = cfW; let kvh = h / p.groupSize;
  var top = -3.0e38;
  for (var t = lid; t < SAMPLES && p.n > 0u; t += QWG) {
    let j = min(p.n - 1u, u32(f32(t) * f32(p.n) / f32(SAMPLES)));
    var o = 0;
    for (var i = 0u; i < W16; i++) {
      o += codeDot(codes[(kvh * W16 + i) * p.stride + j], vec4u(hiW[4u * i], hiW[4u * i + 1u], hiW[4u * i + 2u], hiW[4u * i + 3u]),
        vec4u(loW[4u * i], loW[4u * i + 1u], loW[4u * i + 2u], loW[4u * i + 3u]));
    }
    let mt = keyMeta[kvh * p.stride + j];
    let est = boundEst(cf, mt, o);
    top = max(top, est + boundWidth(cf, mt, est));
  }
  red[lid] = vec3f(top, 0.0, 0.0);
  for (var stride = QWG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid].x = max(red[lid].x, red[lid + stride].x); }
  }
  workgroupBarrier();
  if (lid == 0u) { anchor[h] = select(0.0, red[0].x, p.n > 0u && red[0].x > -1.0e38 && red[0].x < 1.0e38); }
}`;
}
