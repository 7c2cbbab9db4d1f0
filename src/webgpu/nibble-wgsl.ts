/**
 * WGSL of the 4-bit first filter of exact sparse ReLU (nibble-filter.ts; docs/webgpu.md "Kernels"):
 * a scan that reads 72 bytes a key (d = 128) instead of the int8 codes' 144 and lets through every
 * key whose logit can exceed the bias; the int8 scan then runs over those candidates only.
 *
 * Codes (made on the GPU from the caller's K rows, as the int8 codes are), per KV head:
 *   mu    [kvHeads, D/4]           vec4f: a centre μ (the mean of up to 256 keys spread over the
 *                                  first keys coded): any μ is valid; one near the keys' mean takes
 *                                  the channels' common offsets (an LLM's outlier channels) out of
 *                                  the per-key scale
 *   codes [kvHeads, ⌈D/32⌉, stride] vec4u: y = k − μ, s = max|y_i|/7, c_i = round(y_i/s) ∈ [−7, 7],
 *                                  stored as c + 8 in a nibble, dims 8u..8u+3 in the low nibbles of
 *                                  word u, 8u+4..8u+7 in the high ones (transposed like the int8 codes)
 *   meta  [kvHeads, stride]        vec2f: (s, R), R ≥ ‖y − s·c‖
 * Bound (the int8 bound's math, codes-wgsl.ts and quantize.ts, applied to y = k − μ), with only the
 * query's int8 hi part (codes-wgsl.ts qcode; half the dot products of the int8 scan's two parts,
 * which run 6 showed to bound that scan's time, not its bytes): q = α·hi + r, α = 128·max|q|/16256,
 *   scale·⟨q, k⟩ = scale·⟨q, μ⟩ + scale·α·s·⟨c, hi⟩ ± (E1·R + E2·‖y‖),  E1 ≥ scale·α·‖hi‖, E2 ≥ scale·‖r‖,
 * ‖y‖ ≤ normMax + ‖μ‖, where ⟨c, hi⟩ = Σ dot4I8Packed(nibbles, hi) − 8·Σ hi exactly in int32;
 * scale·⟨q, μ⟩ (with its float32 error bounded), α, E1, E2 are computed once a step from the query
 * and the hi parts as stored (filter query pass), so any α gives a valid bound.
 * Rounding of the codes: x = fl(k − μ) and e = fl(x − fl(s·c)) are within 2⁻²⁴·(‖y‖ + ‖s·c‖ + ‖e‖)
 * of the real y − s·c, and ‖s·c‖ ≤ ‖y‖ + √D·s/2 ≤ (1 + √D/14)·‖y‖ ≤ 4.3·‖y‖ for D ≤ 2048: R adds
 * 2⁻²¹·‖y‖ and the factor 1.0001 (the sums of squares and square roots, as for the int8 codes).
 */
import { keyUnitSource, rowOfSource, type KeyLayout } from './codes-wgsl.js';
import { listScanSource } from './select-wgsl.js';
import { PARAMS, WG, type Storage } from './wgsl.js';

/** Keys the centre is the mean of (spread over the keys coded when it is made). */
const CENTRE_SAMPLES = 256;

/** K bound as its rows are stored, and the page table of the paged layout. */
function keyBindings(storage: Storage, layout: KeyLayout): string {
  return `@group(0) @binding(0) var<storage, read> K: array<${storage === 'f16' ? 'vec4u' : 'vec4f'}>;
${typeof layout === 'object' ? '@group(0) @binding(5) var<storage, read> pages: array<u32>;' : ''}`;
}

/**
 * The centre μ of each KV head: the mean of up to 256 keys spread over [0, p.first + p.count)
 * (codes-wgsl.ts QuantParams), one workgroup a KV head, a thread a group of 8 dims. Dispatch (kvHeads).
 */
export function nibbleCentreSource(D: number, storage: Storage, layout: KeyLayout): string {
  return /* wgsl */ `
const WG = ${WG}u; const U = ${D / 8}u; const SAMPLES = ${CENTRE_SAMPLES}u;
struct QuantParams { first: u32, count: u32, cap: u32, stride: u32 }
${keyBindings(storage, layout)}
@group(0) @binding(1) var<storage, read_write> mu: array<vec4f>;
@group(0) @binding(4) var<uniform> p: QuantParams;
${rowOfSource(layout, 'p.cap')}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.x; let n = p.first + p.count; let S = min(n, SAMPLES);
  for (var u = lid; u < U; u += WG) {
    var s0 = vec4f(0.0); var s1 = vec4f(0.0);
    for (var t = 0u; t < S; t++) {
      let row = rowOf(kvh, min(n - 1u, u32(f32(t) * f32(n) / f32(S))));
      ${keyUnitSource(D, storage)}
      s0 += a0; s1 += a1;
    }
    mu[(kvh * U + u) * 2u] = s0 / f32(max(S, 1u)); mu[(kvh * U + u) * 2u + 1u] = s1 / f32(max(S, 1u));
  }
}`;
}

/** Nibble words (vec4u, 32 dims each) of a key. */
export function nibbleWords(D: number): number {
  return Math.ceil(D / 32);
}

/**
 * The 4-bit codes of keys [p.first, p.first + p.count) of every KV head, one thread a key.
 * Dispatch (⌈count / WG⌉, kvHeads).
 */
export function nibbleQuantizeSource(D: number, storage: Storage, layout: KeyLayout): string {
  const unit = keyUnitSource(D, storage), W32 = nibbleWords(D);
  return /* wgsl */ `
const WG = ${WG}u; const U = ${D / 8}u; const W32 = ${W32}u;
struct QuantParams { first: u32, count: u32, cap: u32, stride: u32 }
${keyBindings(storage, layout)}
@group(0) @binding(1) var<storage, read_write> codes: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> keyMeta: array<vec2f>;
@group(0) @binding(3) var<storage, read> mu: array<vec4f>;
@group(0) @binding(4) var<uniform> p: QuantParams;
${rowOfSource(layout, 'p.cap')}
fn nibbles(y: vec4f, s: f32) -> vec4i { return select(vec4i(0), vec4i(clamp(round(y / s), vec4f(-7.0), vec4f(7.0))), s > 0.0); }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y; let i = wid.x * WG + lid; let j = p.first + i;
  if (i >= p.count) { return; }
  let row = rowOf(kvh, j);
  var amax = vec4f(0.0); var n2 = 0.0;
  for (var u = 0u; u < U; u++) {
    ${unit}
    let y0 = a0 - mu[(kvh * U + u) * 2u]; let y1 = a1 - mu[(kvh * U + u) * 2u + 1u];
    amax = max(amax, max(abs(y0), abs(y1))); n2 += dot(y0, y0) + dot(y1, y1);
  }
  let s = max(max(amax.x, amax.y), max(amax.z, amax.w)) / 7.0;
  var e2 = 0.0; var word = vec4u(0u);
  for (var u = 0u; u < U; u++) {
    ${unit}
    let y0 = a0 - mu[(kvh * U + u) * 2u]; let y1 = a1 - mu[(kvh * U + u) * 2u + 1u];
    let c0 = nibbles(y0, s); let c1 = nibbles(y1, s);
    let e0 = y0 - s * vec4f(c0); let e1 = y1 - s * vec4f(c1);
    e2 += dot(e0, e0) + dot(e1, e1);
    word[u % 4u] = pack4xU8(vec4u(c0 + vec4i(8))) | (pack4xU8(vec4u(c1 + vec4i(8))) << 4u);
    if (u % 4u == 3u || u == U - 1u) { codes[(kvh * W32 + u / 4u) * p.stride + j] = word; word = vec4u(0u); }
  }
  keyMeta[kvh * p.stride + j] = vec2f(s, (sqrt(e2) + 4.76837158203125e-7 * sqrt(n2)) * 1.0001);
}`;
}

/**
 * Per step, one workgroup a head, after the query pass (codes-wgsl.ts): into qmu[2h] the head's
 * (scale·⟨q, μ⟩, a bound on its float32 error, ‖y‖ bound normMax + ‖μ‖, Σ hi as i32 bits) and into
 * qmu[2h + 1] its (A = scale·α, E1, E2, 0); the candidate lists' counts zeroed (heads ≥ lists).
 * Rounding: r̃ = fl(q − fl(α·hi)) is within 2⁻²²·‖q‖ + 2⁻²³·‖r̃‖ of r, so E2 adds 2⁻²¹·‖q‖ and the
 * factor 1.0001 (as codes-wgsl.ts does for the 16-bit query). Dispatch (heads).
 */
export function nibbleQuerySource(D: number): string {
  return /* wgsl */ `
const WG = ${WG}u; const DQ = ${D / 4}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> Q: array<vec4f>;
@group(0) @binding(1) var<storage, read> mu: array<vec4f>;
@group(0) @binding(2) var<storage, read> qcode: array<u32>;
@group(0) @binding(3) var<storage, read> normMax: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> qmu: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> candCounts: array<u32>;
var<workgroup> red: array<vec4f, WG>;
var<workgroup> redQ: array<f32, WG>;
var<workgroup> hiSum: atomic<i32>;
var<workgroup> hiSquares: atomic<i32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x; let kvh = h / p.groupSize;
  if (lid == 0u && h < p.lists) { candCounts[h] = 0u; }
  var m = 0.0;
  for (var w = lid; w < DQ; w += WG) { let q = abs(Q[h * DQ + w]); m = max(m, max(max(q.x, q.y), max(q.z, q.w))); }
  redQ[lid] = m;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { redQ[lid] = max(redQ[lid], redQ[lid + stride]); }
  }
  workgroupBarrier();
  let alpha = 128.0 * redQ[0] / 16256.0;
  workgroupBarrier();
  var acc = vec4f(0.0); // Σ q·μ, Σ |q·μ|, Σ μ², Σ r̃²
  var q2 = 0.0; var hs = 0; var hq = 0;
  for (var w = lid; w < DQ; w += WG) {
    let q = Q[h * DQ + w]; let mv = mu[kvh * DQ + w]; let qm = q * mv;
    let hv = unpack4xI8(qcode[h * 2u * DQ + w]); let r = q - alpha * vec4f(hv);
    hs += hv.x + hv.y + hv.z + hv.w; hq += dot(hv, hv);
    acc += vec4f(qm.x + qm.y + qm.z + qm.w, dot(abs(q), abs(mv)), dot(mv, mv), dot(r, r));
    q2 += dot(q, q);
  }
  red[lid] = acc; redQ[lid] = q2;
  atomicAdd(&hiSum, hs); atomicAdd(&hiSquares, hq);
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; redQ[lid] += redQ[lid + stride]; }
  }
  workgroupBarrier();
  if (lid == 0u) {
    let t = red[0];
    // Float32 sums of D terms (and the products, the scale): relative error ≤ (D + 8)·2⁻²³ of Σ|q·μ|.
    let err = p.scale * t.y * ${(D + 8) * 2 ** -23} * 1.0001 + 1e-30;
    qmu[2u * h] = vec4f(p.scale * t.x, err, (bitcast<f32>(normMax[0]) + sqrt(t.z) * 1.0001) * 1.0001, bitcast<f32>(atomicLoad(&hiSum)));
    qmu[2u * h + 1u] = vec4f(p.scale * alpha, p.scale * alpha * sqrt(f32(atomicLoad(&hiSquares))) * 1.0001,
      p.scale * (sqrt(t.w) + 4.76837158203125e-7 * sqrt(redQ[0])) * 1.0001, 0.0);
  }
}`;
}

/**
 * The 4-bit bound's rule, one thread a key (jj, `valid`): take[h] — key jj's upper bound exceeds
 * the bias for head h0 + h, h < GH (a NaN bound takes it). Needs `codes` (the 4-bit codes),
 * `keyMeta` (their vec2f meta), `qcode` (the query pass's codes: their hi words), `qmu`
 * (nibbleQuerySource's), BOUND_FNS, kvh, h0 and p (stride, bias) in scope.
 */
export function nibbleTake(D: number, GH: number): string {
  const W32 = nibbleWords(D), V16 = D / 16;
  return `// o[h] = Σ (c + 8)·hi over the dims: 16 dims v (two nibble units) against the query's hi
  // vec4u word v (codes-wgsl.ts qcode: a head's hi words, then its lo words).
  var o = array<i32, ${GH}>();
  for (var w = 0u; w < ${W32}u; w++) {
    let c = codes[(kvh * ${W32}u + w) * p.stride + jj];
    for (var half = 0u; half < 2u; half++) {
      let v = 2u * w + half;
      if (v < ${V16}u) {
        let u0 = select(c.x, c.z, half == 1u); let u1 = select(c.y, c.w, half == 1u);
        let a = u0 & 0x0F0F0F0Fu; let b = (u0 >> 4u) & 0x0F0F0F0Fu; let e = u1 & 0x0F0F0F0Fu; let f = (u1 >> 4u) & 0x0F0F0F0Fu;
        for (var h = 0u; h < ${GH}u; h++) {
          let hi = qcode[(h0 + h) * ${2 * V16}u + v];
          o[h] += dot4I8Packed(a, hi.x) + dot4I8Packed(b, hi.y) + dot4I8Packed(e, hi.z) + dot4I8Packed(f, hi.w);
        }
      }
    }
  }
  let mt = keyMeta[kvh * p.stride + jj];
  var take = array<bool, ${GH}>();
  for (var h = 0u; h < ${GH}u; h++) {
    let m = qmu[2u * (h0 + h)]; let cf = qmu[2u * (h0 + h) + 1u];
    let est = boundEst(cf, vec4f(mt.x), o[h] - 8 * bitcast<i32>(m.w));
    // The centre's term and its error; the sum's own roundings within 2⁻²⁰ of its terms.
    let ub = m.x + est + boundWidth(cf, vec4f(mt.x, mt.y, m.z, 0.0), est) + m.y + (abs(m.x) + m.y) * 9.5367431640625e-7;
    take[h] = valid && !(ub <= p.bias);
  }`;
}

/**
 * The 4-bit scan: keys of [0, n) whose upper bound exceeds the bias for some head of the scan
 * group join the group's candidate list (cand [groups, stride], candCounts). A NaN bound (keys
 * beyond float32's range) keeps the key: the int8 scan over the candidates decides.
 * Dispatch (⌈n / WG⌉, kvHeads · group / GH).
 */
export function nibbleScanSource(D: number, group: number, GH: number): string {
  return listScanSource({
    group, GH, meta: 'vec2f', union: true,
    decls: '@group(0) @binding(7) var<storage, read> qmu: array<vec4f>;',
    take: nibbleTake(D, GH),
  });
}
