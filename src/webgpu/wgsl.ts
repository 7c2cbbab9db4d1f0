/**
 * WGSL sources of the WebGPU decode kernels (docs/webgpu.md); attention itself is attend-kernel.ts.
 * Each generator bakes its shape into constants, so one pipeline serves one (dims, group, storage,
 * weighting) combination.
 *
 * Layouts (all row-major, dims padded with zeros to D / DV, multiples of 16 / 8):
 *   K, V   [kvHeads, cap, D|DV]  f32 (array<vec4f>) or f16 packed two per u32 (array<vec4u>, 8 a vec4u)
 *   codes  [kvHeads, cap, D/4]   int8 key codes, four per u32 (dot4I8Packed)
 *   meta   [kvHeads, cap]        vec4f (s, R, N, 0): key ≈ s·c, R ≥ ‖k − s·c‖, N ≥ ‖k‖ (quantize.ts)
 *   Q      [heads, D]            f32 queries
 *   qcode  [heads, 2, D/4]       the query's int8 parts hi, lo (q̂ = 128·hi + lo) for dot4I8Packed
 *   coef   [heads]               vec4f (A, E1, E2, 0): logit bounds A·s·o ± (E1·R + E2·N) (quantize.ts)
 *   part   [heads, splits, DV+4] one split's softmax state: m, l, 0, 0, acc[DV]
 * Only core WGSL (no shader-f16: the H100's Dawn lacks it; unpack2x16float is core).
 */

/** Threads per workgroup: SwiftShader's limit (maxComputeInvocationsPerWorkgroup = 256). */
export const WG = 256;
/** Certified mode: buckets of 1/8 nat below the reference logit (the CPU's, certified.ts). */
export const BUCKETS = 384;
/** Below every logit: an "empty" max that exp() turns into 0 without NaN. */
export const NEG = '-3.0e38';

/** The attention passes' uniform, as plan.ts `attendParams` writes it: one declaration for every shader. */
export const PARAMS = /* wgsl */ `struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }`;

export type Storage = 'f32' | 'f16';
export type Weighting = 'softmax' | 'relu';

/**
 * Log-sum-exp merge of the splits' states: out[h] = Σ e^{m_s − M} acc_s / Σ e^{m_s − M} l_s, zeros
 * where no key had weight; summary[h] = (M, L) with L = Σ e^{m_s − M} l_s (certified mode's W).
 * Workgroup (h, y) merges MQ quads of head h; its 256 threads are LANES lanes a quad, each summing
 * a few splits with independent loads (a serial walk over the splits per thread took microseconds
 * of dependent loads), then a tree over the lanes. Dispatch (heads, mergeGroups(DV)).
 */
export function mergeSource(DV: number): string {
  const DQ = DV / 4, MQ = mergeQuads(DV), LANES = WG / MQ;
  return /* wgsl */ `
const WG = ${WG}u; const DQ = ${DQ}u; const MQ = ${MQ}u; const LANES = ${LANES}u; const NEG = ${NEG};
${PARAMS}
@group(0) @binding(0) var<storage, read> part: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> summary: array<vec2f>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> red: array<f32, WG>;
var<workgroup> accs: array<vec4f, WG>;
var<workgroup> ls: array<f32, WG>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  var m = NEG;
  for (var s = lid; s < p.splits; s += WG) { let st = part[(h * p.splits + s) * (DQ + 1u)]; if (st.y > 0.0) { m = max(m, st.x); } }
  red[lid] = m;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = max(red[lid], red[lid + stride]); }
  }
  workgroupBarrier();
  let M = red[0];
  let c = wid.y * MQ + lid % MQ; let lane = lid / MQ;
  var x = vec4f(0.0); var L = 0.0;
  if (c < DQ) {
    for (var s = lane; s < p.splits; s += LANES) {
      let base = (h * p.splits + s) * (DQ + 1u);
      let st = part[base]; let a = part[base + 1u + c];
      let f = select(0.0, exp(st.x - M), st.y > 0.0);
      x += f * a; L += f * st.y;
    }
  }
  accs[lid] = x; ls[lid] = L;
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lane < stride) { accs[lid] += accs[lid + stride * MQ]; ls[lid] += ls[lid + stride * MQ]; }
  }
  workgroupBarrier();
  if (lane == 0u && c < DQ) {
    let X = accs[lid]; let Lt = ls[lid];
    out[h * DQ + c] = select(vec4f(0.0), X / Lt, Lt > 0.0);
    if (c == 0u) { summary[h] = vec2f(M, Lt); }
  }
}`;
}

/** Quads (4 value dims) one merge workgroup serves. */
function mergeQuads(DV: number): number {
  return Math.min(DV / 4, 4);
}

/** Merge workgroups per head (the dispatch's y). */
export function mergeGroups(DV: number): number {
  return Math.ceil(DV / 4 / mergeQuads(DV));
}

/** Orderable u32 of an f32 (atomicMax on floats) and back. */
const ORDER = /* wgsl */ `
fn toOrdered(f: f32) -> u32 { let u = bitcast<u32>(f); return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u); }
fn fromOrdered(u: u32) -> f32 { return bitcast<f32>(select(~u, u & 0x7fffffffu, (u & 0x80000000u) != 0u)); }`;

/**
 * Per-key certified logit bounds from the int8 codes, one thread per key, every head of the KV
 * group: o = ⟨c, q̂⟩ exactly in int32 (two dot4I8Packed per word: q̂ = 128·hi + lo), then
 * est = A·s·o, width = (E1·R + E2·N + |est|·2⁻²⁰)·(1 + 2⁻²⁰) + 1e-30 (quantize.ts derives why
 * est ± width brackets the real logit, float32 rounding included).
 * - 'relu': keys whose upper bound exceeds the bias are appended to the head's id list.
 * - 'certified': up/lo go to [heads, cap] arrays and the head's max upper bound to m0 (ordered u32).
 */
export function boundsSource(D: number, group: number, mode: 'relu' | 'certified', subgroups: boolean): string {
  const W = D / 4;
  // Certified: a head's largest upper bound goes to workgroup memory once a subgroup (subgroupMax)
  // where subgroups exist — one atomic per key and head serialised the whole workgroup on 4 words.
  const localMax = subgroups
    ? 'let top = subgroupMax(select(-3.0e38, est + width, valid)); if (sid == 0u) { atomicMax(&localMax[h], toOrdered(top)); }'
    : 'if (valid) { atomicMax(&localMax[h], toOrdered(est + width)); }';
  return /* wgsl */ `${subgroups && mode === 'certified' ? 'enable subgroups;' : ''}
const WG = ${WG}u; const W = ${W}u; const GS = ${group}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> codes: array<vec4u>;
@group(0) @binding(1) var<storage, read> keyMeta: array<vec4f>;
@group(0) @binding(2) var<storage, read> qcode: array<vec4u>;
@group(0) @binding(3) var<storage, read> coef: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
${mode === 'relu' ? `@group(0) @binding(5) var<storage, read_write> ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
var<workgroup> localCount: array<atomic<u32>, GS>;
var<workgroup> localBase: array<u32, GS>;`
    : `@group(0) @binding(5) var<storage, read_write> up: array<f32>;
@group(0) @binding(6) var<storage, read_write> lo: array<f32>;
@group(0) @binding(7) var<storage, read_write> m0: array<atomic<u32>>;
var<workgroup> localMax: array<atomic<u32>, GS>;`}
${ORDER}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u${subgroups && mode === 'certified' ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let kvh = wid.y;
  let j = wid.x * WG + lid;
  let valid = j < p.n;
  let row = kvh * p.cap + min(j, p.n - 1u);
  var o: array<i32, GS>;
  for (var i = 0u; i < W / 4u; i++) {
    let c = codes[row * (W / 4u) + i];
    for (var h = 0u; h < GS; h++) {
      let qb = (kvh * GS + h) * (W / 2u);
      let hi = qcode[qb + i]; let lw = qcode[qb + W / 4u + i];
      o[h] += 128 * (dot4I8Packed(c.x, hi.x) + dot4I8Packed(c.y, hi.y) + dot4I8Packed(c.z, hi.z) + dot4I8Packed(c.w, hi.w))
        + dot4I8Packed(c.x, lw.x) + dot4I8Packed(c.y, lw.y) + dot4I8Packed(c.z, lw.z) + dot4I8Packed(c.w, lw.w);
    }
  }
  let mt = keyMeta[row];
  ${mode === 'relu' ? `var pos: array<u32, GS>;
  var take: array<bool, GS>;` : ''}
  for (var h = 0u; h < GS; h++) {
    let head = kvh * GS + h;
    let cf = coef[head];
    let est = cf.x * mt.x * f32(o[h]);
    let width = (cf.y * mt.y + cf.z * mt.z + abs(est) * 9.5367431640625e-7) * 1.00000095367431640625 + 1e-30;
    ${mode === 'relu'
      ? `take[h] = valid && est + width > p.bias;
    if (take[h]) { pos[h] = atomicAdd(&localCount[h], 1u); }`
      : `if (valid) { up[head * p.cap + j] = est + width; lo[head * p.cap + j] = est - width; }
    ${localMax}`}
  }
  workgroupBarrier();
  ${mode === 'relu'
    ? `if (lid < GS) { let c = atomicLoad(&localCount[lid]); localBase[lid] = select(0u, atomicAdd(&counts[kvh * GS + lid], c), c > 0u); }
  workgroupBarrier();
  for (var h = 0u; h < GS; h++) { if (take[h]) { ids[(kvh * GS + h) * p.cap + localBase[h] + pos[h]] = j; } }`
    : `for (var h = lid; h < GS; h += WG) { atomicMax(&m0[kvh * GS + h], atomicLoad(&localMax[h])); }`}
}`;
}

/** Bucket of a key's upper bound (gap rounded down) and of its lower bound (gap rounded up), as certified.ts. */
const BUCKET_OF = /* wgsl */ `
fn bucketUp(m0: f32, u: f32) -> u32 { let g = max((m0 - u) * 0.99999976158142089844, 0.0); return u32(min(floor(g * 8.0), ${BUCKETS - 1}.0)); }
fn bucketLo(m0: f32, l: f32) -> u32 { let g = (m0 - l) * 1.00000023841857910156; return u32(min(floor(g * 8.0), ${BUCKETS - 1}.0)); }`;

/** Certified mode, pass 2: per head, counts of keys by upper-bound gap and by lower-bound gap below m0. */
export function histogramSource(): string {
  return /* wgsl */ `
const WG = ${WG}u; const B = ${BUCKETS}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> up: array<f32>;
@group(0) @binding(1) var<storage, read> lo: array<f32>;
@group(0) @binding(2) var<storage, read> m0: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> hu: array<atomic<u32>, B>;
var<workgroup> hl: array<atomic<u32>, B>;
${ORDER}
${BUCKET_OF}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let head = wid.y; let j = wid.x * WG + lid;
  let m = fromOrdered(m0[head]);
  if (j < p.n) {
    atomicAdd(&hu[bucketUp(m, up[head * p.cap + j])], 1u);
    atomicAdd(&hl[bucketLo(m, lo[head * p.cap + j])], 1u);
  }
  workgroupBarrier();
  for (var b = lid; b < B; b += WG) {
    let u = atomicLoad(&hu[b]); if (u > 0u) { atomicAdd(&hist[head * 2u * B + b], u); }
    let l = atomicLoad(&hl[b]); if (l > 0u) { atomicAdd(&hist[head * 2u * B + B + b], l); }
  }
}`;
}

/**
 * Certified mode, pass 3 (one thread per head): the smallest cut bucket c ≥ 1 with
 * U(c) ≤ ratio·L(c), U(c) = Σ_{b ≥ c} countUp_b·e^{−bΔ} (rounded up: bounds the skipped keys' mass
 * relative to m0) and L(c) = Σ_{b < c} countLo_b·e^{−(b+1)Δ} (rounded down: bounds from below the
 * mass of keys every one of which the cut keeps); ratio = ε/(1 − ε) rounded down. c = B keeps
 * every key (U = 0). cut[h] = (c, U(c), L(c), m0) — edges: e^{−bΔ} rounded up, e^{−(b+1)Δ} down.
 */
export function cutSource(): string {
  return /* wgsl */ `
const B = ${BUCKETS}u;
struct CutParams { heads: u32, ratio: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read> edges: array<f32>;
@group(0) @binding(2) var<storage, read> m0: array<u32>;
@group(0) @binding(3) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(4) var<uniform> p: CutParams;
${ORDER}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var h = lid; h < p.heads; h += 64u) {
    var suffix: array<f32, ${BUCKETS + 1}>;
    suffix[B] = 0.0;
    for (var b = B; b > 0u; b--) { suffix[b - 1u] = suffix[b] + f32(hist[h * 2u * B + b - 1u]) * edges[b - 1u]; }
    var L = 0.0; var c = B; var U = 0.0;
    for (var b = 1u; b <= B; b++) {
      if (b < B) { L += f32(hist[h * 2u * B + B + b - 1u]) * edges[B + b - 1u]; }
      let u = suffix[b] * 1.0001; let l = L * 0.9999;
      if (b == B || u <= p.ratio * l) { c = b; U = select(u, 0.0, b == B); L = l; break; }
    }
    cut[h] = vec4f(bitcast<f32>(c), U, L, fromOrdered(m0[h]));
  }
}`;
}

/** Certified mode, pass 4: appends to the head's id list every key whose upper-gap bucket is below the cut. */
export function compactSource(): string {
  return /* wgsl */ `
const WG = ${WG}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> up: array<f32>;
@group(0) @binding(1) var<storage, read> cut: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> localCount: atomic<u32>;
var<workgroup> localBase: u32;
${BUCKET_OF}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let head = wid.y; let j = wid.x * WG + lid;
  let ct = cut[head];
  let take = j < p.n && bucketUp(ct.w, up[head * p.cap + min(j, p.n - 1u)]) < bitcast<u32>(ct.x);
  var pos = 0u;
  if (take) { pos = atomicAdd(&localCount, 1u); }
  workgroupBarrier();
  if (lid == 0u) { let c = atomicLoad(&localCount); localBase = select(0u, atomicAdd(&counts[head], c), c > 0u); }
  workgroupBarrier();
  if (take) { ids[head * p.cap + localBase + pos] = j; }
}`;
}
