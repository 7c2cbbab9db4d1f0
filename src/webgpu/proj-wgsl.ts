/**
 * WGSL of the projection first filter of exact sparse ReLU (proj-filter.ts; docs/webgpu.md
 * "Kernels"): keys projected on an r-dim basis of their own principal directions, so the scan over
 * every key reads 2r + 8 bytes a key (24 at r = 8) instead of the int8 codes' 144 (d = 128).
 *
 * Per KV head (made on the GPU from the caller's K rows, once, when coding starts from position 0),
 * its frame [kvHeads, projFrameStride] vec4f:
 *   B     R rows of D/4   the basis (orthogonal iteration on those keys' covariance)
 *   μ     D/4             the mean of up to SAMPLES keys spread over the keys coded
 *   meta  1               (β ≥ ‖B‖_F, 0, 0, 0)
 * Per key: y = k − μ, ĉ = f16(B·y) (R halves, 8 a vec4u word, stored transposed [kvHeads, R/8,
 * stride] like the int8 codes), e = y − Bᵀĉ, and keyMeta (σ, ρ) with σ ≥ ‖B·e‖, ρ ≥ ‖e‖.
 * Per query: a = B·q, q_r = q − Bᵀa. Then, exactly, ⟨q, k⟩ = ⟨q, μ⟩ + ⟨a, ĉ⟩ + ⟨q, e⟩ and
 * ⟨q, e⟩ = ⟨a, B·e⟩ + ⟨q_r, e⟩ ≤ ‖a‖·σ + ‖q_r‖·ρ — for ANY B, μ and ĉ as stored: the basis' quality
 * sets only how tight the bound is (so a basis of a few keys, a degenerate one — all keys equal,
 * rank < R: rows left zero — and keys appended after it are all exact).
 * Float32 rounding (2⁻²⁴ a rounding; γ_m ≤ m·2⁻²³ below for any summation order, as dot() may use):
 *   codes: e as computed differs from y − Bᵀĉ (y = k − μ exactly) by δ ≤ (R + 2)·2⁻²³·(‖y‖ + β·‖ĉ‖);
 *     ρ = 1.001·(‖e‖ + δ); σ = 1.001·(‖B·e‖ + β·(D·2⁻²³·‖e‖ + δ)) (‖B‖₂ ≤ β);
 *   query: a as computed is a valid a; q_r as computed is within (R + 2)·2⁻²³·(‖q‖ + β·‖a‖) of q − Bᵀa;
 *     scale·⟨q, μ⟩ within scale·(D + 8)·2⁻²³·Σ|q_i μ_i|; a is stored as fl(scale·a);
 *   scan: Σ fl(scale·a)·ĉ within (R + 2)·2⁻²³·Σ|scale·a_c·ĉ_c| of scale·⟨a, ĉ⟩; the bound's last
 *     additions within 2⁻²⁰ of their terms.
 * Overflow (keys or queries near float32's range): ĉ is clamped to ±65504 (e takes the rest), and
 * an infinite or NaN ρ, σ or sum makes the bound NaN or +∞, which passes the key.
 */
import { keyUnitSource, rowOfSource, type KeyLayout } from './codes-wgsl.js';
import { appendUnion } from './select-wgsl.js';
import { PARAMS, WG, type Storage } from './wgsl.js';

/**
 * Keys the centre and the basis are made from (spread over the keys coded when they are made), and
 * rounds of orthogonal iteration: bench/first-filter.ts let the same share of 'llm' keys through with
 * 256 keys and 10 rounds as with 512 and 16 (5.83 against 5.89 % at 1 % activation, 128k), and one
 * basis pass over 512 keys and 16 rounds took ~4 s on SwiftShader (d = 128, R = 16).
 */
export const PROJ_SAMPLES = 256;
export const PROJ_ROUNDS = 10;

/** vec4f of a KV head's frame: B (R rows of D/4), μ (D/4), (β, 0, 0, 0). */
export function projFrameStride(D: number, R: number): number {
  return (R + 1) * (D / 4) + 1;
}

/** WGSL constants of the frame's layout (prefixed: the fused pass has constants of its own). */
function frameConsts(D: number, R: number): string {
  return `const PJ_R = ${R}u; const PJ_DQ = ${D / 4}u; const PJ_FS = ${projFrameStride(D, R)}u; const PJ_MU = ${R * D / 4}u; const PJ_META = ${(R + 1) * D / 4}u;`;
}

function keyBindings(storage: Storage, layout: KeyLayout): string {
  return `@group(0) @binding(0) var<storage, read> K: array<${storage === 'f16' ? 'vec4u' : 'vec4f'}>;
${typeof layout === 'object' ? '@group(0) @binding(5) var<storage, read> pages: array<u32>;' : ''}`;
}

const QUANT_PARAMS = 'struct QuantParams { first: u32, count: u32, cap: u32, stride: u32 }';

/**
 * The frame (μ, B, β) of each KV head from up to SAMPLES keys spread over [0, p.first + p.count), one workgroup a
 * KV head: μ, then PROJ_ROUNDS rounds of Y = Σ_t (x_t − μ)·((x_t − μ)·B) and B = L⁻¹·Y, L the Cholesky
 * factor of Y·Yᵀ (one thread; a row whose pivot is ≤ 10⁻⁶ of its own norm² — dependent, zero or
 * NaN — is left zero for good). `proj` [kvHeads, SAMPLES, R] and `work` [kvHeads, R, D/4] are scratch.
 * Dispatch (kvHeads).
 */
export function projBasisSource(D: number, R: number, storage: Storage, layout: KeyLayout): string {
  const unit = keyUnitSource(D, storage);
  return /* wgsl */ `
const WG = ${WG}u; const U = ${D / 8}u; const DQ = ${D / 4}u; const R = ${R}u; const SAMPLES = ${PROJ_SAMPLES}u; const ROUNDS = ${PROJ_ROUNDS}u;
${frameConsts(D, R)}
${QUANT_PARAMS}
${keyBindings(storage, layout)}
@group(0) @binding(1) var<storage, read_write> frame: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> work: array<vec4f>;
@group(0) @binding(4) var<uniform> p: QuantParams;
@group(0) @binding(6) var<storage, read_write> proj: array<f32>;
var<workgroup> gram: array<f32, ${R * R}>;
var<workgroup> invDiag: array<f32, ${R}>;
var<workgroup> red: array<f32, WG>;
${rowOfSource(layout, 'p.cap')}
fn sampleRow(kvh: u32, t: u32, n: u32, S: u32) -> u32 { return rowOf(kvh, min(n - 1u, u32(f32(t) * f32(n) / f32(S)))); }
fn barrier() { storageBarrier(); workgroupBarrier(); }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.x; let n = p.first + p.count; let S = min(n, SAMPLES);
  let B0 = kvh * PJ_FS; let M0 = B0 + PJ_MU; let W0 = kvh * R * DQ; let P0 = kvh * SAMPLES * R;
  for (var u = lid; u < U; u += WG) {
    var s0 = vec4f(0.0); var s1 = vec4f(0.0);
    for (var t = 0u; t < S; t++) { let row = sampleRow(kvh, t, n, S); ${unit} s0 += a0; s1 += a1; }
    frame[M0 + 2u * u] = s0 / f32(max(S, 1u)); frame[M0 + 2u * u + 1u] = s1 / f32(max(S, 1u));
  }
  // A fixed pseudo-random start (any start converges to the top directions unless orthogonal to them).
  for (var i = lid; i < R * DQ; i += WG) {
    var h = vec4u(i * 4u, i * 4u + 1u, i * 4u + 2u, i * 4u + 3u) * 2654435761u + 40503u;
    h = (h ^ (h >> vec4u(15u))) * 2246822519u; h = h ^ (h >> vec4u(13u));
    frame[B0 + i] = vec4f(h & vec4u(0xFFFFu)) / 32768.0 - 1.0;
  }
  barrier();
  for (var round = 0u; round < ROUNDS; round++) {
    // proj[t][c] = (x_t − μ)·B_c
    for (var i = lid; i < S * R; i += WG) {
      let t = i / R; let c = i % R; let row = sampleRow(kvh, t, n, S);
      var acc = 0.0;
      for (var u = 0u; u < U; u++) {
        ${unit}
        acc += dot(a0 - frame[M0 + 2u * u], frame[B0 + c * DQ + 2u * u]) + dot(a1 - frame[M0 + 2u * u + 1u], frame[B0 + c * DQ + 2u * u + 1u]);
      }
      proj[P0 + t * R + c] = acc;
    }
    barrier();
    // Y_c = Σ_t proj[t][c]·(x_t − μ)
    for (var i = lid; i < R * U; i += WG) {
      let c = i / U; let u = i % U;
      var y0 = vec4f(0.0); var y1 = vec4f(0.0);
      for (var t = 0u; t < S; t++) {
        let row = sampleRow(kvh, t, n, S); let weight = proj[P0 + t * R + c];
        ${unit}
        y0 += weight * (a0 - frame[M0 + 2u * u]); y1 += weight * (a1 - frame[M0 + 2u * u + 1u]);
      }
      work[W0 + c * DQ + 2u * u] = y0; work[W0 + c * DQ + 2u * u + 1u] = y1;
    }
    barrier();
    for (var i = lid; i < R * R; i += WG) {
      let a = i / R; let b = i % R;
      var g = 0.0;
      if (b <= a) { for (var w = 0u; w < DQ; w++) { g += dot(work[W0 + a * DQ + w], work[W0 + b * DQ + w]); } }
      gram[i] = g;
    }
    workgroupBarrier();
    if (lid == 0u) {
      // Cholesky Y·Yᵀ = L·Lᵀ in place (lower triangle of gram).
      for (var j = 0u; j < R; j++) {
        var d = gram[j * R + j];
        for (var k = 0u; k < j; k++) { d -= gram[j * R + k] * gram[j * R + k]; }
        let live = d > 1e-6 * gram[j * R + j];
        let l = select(0.0, sqrt(d), live);
        gram[j * R + j] = l; invDiag[j] = select(0.0, 1.0 / l, live);
        for (var i = j + 1u; i < R; i++) {
          var s = gram[i * R + j];
          for (var k = 0u; k < j; k++) { s -= gram[i * R + k] * gram[j * R + k]; }
          gram[i * R + j] = s * invDiag[j];
        }
      }
    }
    workgroupBarrier();
    // B = L⁻¹·Y by forward substitution, each thread its own columns.
    for (var w = lid; w < DQ; w += WG) {
      for (var c = 0u; c < R; c++) {
        var b = work[W0 + c * DQ + w];
        for (var k = 0u; k < c; k++) { b -= gram[c * R + k] * frame[B0 + k * DQ + w]; }
        frame[B0 + c * DQ + w] = b * invDiag[c];
      }
    }
    barrier();
  }
  var f = 0.0;
  for (var i = lid; i < R * DQ; i += WG) { let b = frame[B0 + i]; f += dot(b, b); }
  red[lid] = f;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  if (lid == 0u) { frame[B0 + PJ_META] = vec4f(sqrt(red[0]) * 1.001 + 1e-30, 0.0, 0.0, 0.0); }
}`;
}

/** vec4u words (8 f16 projections each) of a key's codes. */
export function projWords(R: number): number {
  return R / 8;
}

/**
 * The codes of keys [p.first, p.first + p.count) of every KV head, one thread a key: ĉ (f16), and
 * (σ, ρ) (header). Dispatch (⌈count / WG⌉, kvHeads).
 */
export function projQuantizeSource(D: number, R: number, storage: Storage, layout: KeyLayout): string {
  const unit = keyUnitSource(D, storage);
  return /* wgsl */ `
const WG = ${WG}u; const U = ${D / 8}u; const DQ = ${D / 4}u; const R = ${R}u; const RW = ${projWords(R)}u;
${frameConsts(D, R)}
${QUANT_PARAMS}
${keyBindings(storage, layout)}
@group(0) @binding(1) var<storage, read_write> codes: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> keyMeta: array<vec2f>;
@group(0) @binding(3) var<storage, read> frame: array<vec4f>;
@group(0) @binding(4) var<uniform> p: QuantParams;
${rowOfSource(layout, 'p.cap')}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y; let i = wid.x * WG + lid; let j = p.first + i;
  if (i >= p.count) { return; }
  let row = rowOf(kvh, j); let B0 = kvh * PJ_FS; let M0 = B0 + PJ_MU;
  var c = array<f32, R>(); var y2 = 0.0;
  for (var u = 0u; u < U; u++) {
    ${unit}
    let y0 = a0 - frame[M0 + 2u * u]; let y1 = a1 - frame[M0 + 2u * u + 1u];
    y2 += dot(y0, y0) + dot(y1, y1);
    for (var r = 0u; r < R; r++) { c[r] += dot(y0, frame[B0 + r * DQ + 2u * u]) + dot(y1, frame[B0 + r * DQ + 2u * u + 1u]); }
  }
  // ĉ: the f16 projections as stored (and as the scan reads them).
  var c2 = 0.0;
  for (var w = 0u; w < RW; w++) {
    var word = vec4u(0u);
    for (var k = 0u; k < 4u; k++) {
      // The stored bits, and their value as the scan will read it.
      let bits = pack2x16float(clamp(vec2f(c[8u * w + 2u * k], c[8u * w + 2u * k + 1u]), vec2f(-65504.0), vec2f(65504.0)));
      let pair = unpack2x16float(bits);
      word[k] = bits;
      c[8u * w + 2u * k] = pair.x; c[8u * w + 2u * k + 1u] = pair.y; c2 += dot(pair, pair);
    }
    codes[(kvh * RW + w) * p.stride + j] = word;
  }
  var s = array<f32, R>(); var e2 = 0.0;
  for (var u = 0u; u < U; u++) {
    ${unit}
    var e0 = a0 - frame[M0 + 2u * u]; var e1 = a1 - frame[M0 + 2u * u + 1u];
    for (var r = 0u; r < R; r++) { e0 -= c[r] * frame[B0 + r * DQ + 2u * u]; e1 -= c[r] * frame[B0 + r * DQ + 2u * u + 1u]; }
    e2 += dot(e0, e0) + dot(e1, e1);
    for (var r = 0u; r < R; r++) { s[r] += dot(e0, frame[B0 + r * DQ + 2u * u]) + dot(e1, frame[B0 + r * DQ + 2u * u + 1u]); }
  }
  var s2 = 0.0;
  for (var r = 0u; r < R; r++) { s2 += s[r] * s[r]; }
  let beta = frame[B0 + PJ_META].x; let en = sqrt(e2);
  let delta = ${(R + 2) * 2 ** -23} * (sqrt(y2) + beta * sqrt(c2));
  keyMeta[kvh * p.stride + j] = vec2f(1.001 * (sqrt(s2) + beta * (${D * 2 ** -23} * en + delta)), 1.001 * (en + delta));
}`;
}

/** vec4f a head's projected query takes: scale·a (R/4), then (scale·⟨q, μ⟩, its error, A, E). */
export function projQueryStride(R: number): number {
  return R / 4 + 1;
}

/**
 * Lanes a basis row's dot product with a query is split over: D/4 serial loads a thread (one
 * thread a row) become D/32 and a sum of 8 — a shorter chain on a pass that is all latency.
 */
const ROW_LANES = 8;

/** Threads a head's residual sum takes: a power of two, ≥ D/4 where the workgroup has room. */
function residualThreads(D: number, GH: number): number {
  let s = 1;
  while (2 * s <= WG / GH && s < D / 4) s *= 2;
  return s;
}

/**
 * Module-scope WGSL of {@link projQueryStatements} for GH heads: the frame's constants and the
 * workgroup memory, of which `qpw` [GH, projQueryStride(R)] vec4f holds the projected queries.
 */
export function projQueryDeclarations(D: number, R: number, GH: number): string {
  const S = residualThreads(D, GH);
  return `${frameConsts(D, R)}
const PJ_GH = ${GH}u; const PJ_S = ${S}u; const PJ_QS = ${projQueryStride(R)}u; const PJ_L = ${ROW_LANES}u;
var<workgroup> pjDot: array<f32, ${GH * R * ROW_LANES}>;
var<workgroup> pjRed: array<vec4f, ${GH * S}>;
var<workgroup> qpw: array<vec4f, ${GH * projQueryStride(R)}>;`;
}

/**
 * WGSL statements, in uniform control flow (barriers), projecting query heads h0 .. h0 + GH − 1
 * (KV head kvh) on kvh's frame into qpw: per head scale·a (a = B·q), then (scale·⟨q, μ⟩, a bound on
 * its error, A ≥ scale·‖a‖, E ≥ scale·‖q − Bᵀa‖). Needs projQueryDeclarations, Q (array<vec4f>,
 * [heads, D/4]), frame, p, WG, lid, h0 and kvh in scope.
 */
export function projQueryStatements(D: number, R: number): string {
  return `{
    let pjF = kvh * PJ_FS;
    // a = B·q: PJ_L lanes a head and basis row, each over every PJ_L-th vec4 of the row.
    for (var i = lid; i < PJ_GH * PJ_R * PJ_L; i += WG) {
      let h = i / (PJ_R * PJ_L); let c = (i / PJ_L) % PJ_R;
      var acc = 0.0;
      for (var w = i % PJ_L; w < PJ_DQ; w += PJ_L) { acc += dot(frame[pjF + c * PJ_DQ + w], Q[(h0 + h) * PJ_DQ + w]); }
      pjDot[i] = acc;
    }
    workgroupBarrier();
    for (var i = lid; i < PJ_GH * PJ_R; i += WG) {
      var acc = 0.0;
      for (var l = 0u; l < PJ_L; l++) { acc += pjDot[i * PJ_L + l]; }
      pjDot[i * PJ_L] = acc; // a_c of head h at (h·R + c)·PJ_L: only this thread reads or writes that run
    }
    workgroupBarrier();
    // q_r = q − Bᵀa (each dim's R + 1 terms in one order), Σ q·μ, Σ |q·μ|, ‖q_r‖², ‖q‖²: PJ_S threads a head.
    let pjH = lid / PJ_S; let pjT = lid % PJ_S;
    if (pjH < PJ_GH) {
      var acc = vec4f(0.0);
      for (var w = pjT; w < PJ_DQ; w += PJ_S) {
        let q = Q[(h0 + pjH) * PJ_DQ + w]; let m = frame[pjF + PJ_MU + w];
        var r = q;
        for (var c = 0u; c < PJ_R; c++) { r -= pjDot[(pjH * PJ_R + c) * PJ_L] * frame[pjF + c * PJ_DQ + w]; }
        let qm = q * m;
        acc += vec4f(qm.x + qm.y + qm.z + qm.w, dot(abs(q), abs(m)), dot(r, r), dot(q, q));
      }
      pjRed[lid] = acc;
    }
    for (var stride = PJ_S / 2u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (pjH < PJ_GH && pjT < stride) { pjRed[lid] += pjRed[lid + stride]; }
    }
    workgroupBarrier();
    if (pjH < PJ_GH && pjT == 0u) {
      let a0 = pjH * PJ_R * PJ_L;
      var a2 = 0.0;
      for (var c = 0u; c < PJ_R; c++) { let x = pjDot[a0 + c * PJ_L]; a2 += x * x; }
      for (var c = 0u; c < PJ_R; c += 4u) {
        qpw[pjH * PJ_QS + c / 4u] = p.scale * vec4f(pjDot[a0 + c * PJ_L], pjDot[a0 + (c + 1u) * PJ_L], pjDot[a0 + (c + 2u) * PJ_L], pjDot[a0 + (c + 3u) * PJ_L]);
      }
      let t = pjRed[lid]; let an = sqrt(a2) * 1.001;
      let qr = sqrt(t.z) * 1.001 + ${(R + 2) * 2 ** -23} * (sqrt(t.w) * 1.001 + frame[pjF + PJ_META].x * an);
      qpw[pjH * PJ_QS + PJ_R / 4u] = vec4f(p.scale * t.x, p.scale * t.y * ${(D + 8) * 2 ** -23} * 1.0001 + 1e-30, p.scale * an * 1.001, p.scale * qr * 1.001);
    }
    workgroupBarrier();
  }`;
}

/**
 * The query pass, one workgroup a head: projQueryStatements into qproj
 * [heads, projQueryStride(R)]; the candidate lists' counts zeroed (heads ≥ lists). Dispatch (heads).
 * `anchorWords` (certified ε's query pass, proj-certified.ts: the int8 query pass's duties, so a
 * step needs no other): every head's count zeroed (binding 6: the compaction's), its `anchorWords`
 * histogram words zeroed (hist, 10), and its anchor (9) — the largest upper bound on the
 * projection codes (codes 7, keyMeta 8) of 256 keys spread over [0, n), 0 where n = 0 or that
 * bound is not finite (any anchor is correct; a near one keeps fewer keys).
 */
export function projQuerySource(D: number, R: number, anchorWords = 0): string {
  // (The sampled keys' bounds read the head's projected query where the pass made it: qpw.)
  const anchored = anchorWords > 0, made: ProjQuery = (h, i) => `qpw[${h} * ${projQueryStride(R)}u + ${i}]`;
  return /* wgsl */ `
const WG = ${WG}u;
${PARAMS}
${projQueryDeclarations(D, R, 1)}
@group(0) @binding(0) var<storage, read> Q: array<vec4f>;
@group(0) @binding(1) var<storage, read> frame: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> qproj: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> candCounts: array<u32>;
${anchored ? `@group(0) @binding(7) var<storage, read> codes: array<vec4u>;
@group(0) @binding(8) var<storage, read> keyMeta: array<vec2f>;
@group(0) @binding(9) var<storage, read_write> anchor: array<f32>;
@group(0) @binding(10) var<storage, read_write> hist: array<u32>;
var<workgroup> topRed: array<f32, WG>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h0 = wid.x; let kvh = h0 / p.groupSize;
  if (lid == 0u && ${anchored ? 'true' : 'h0 < p.lists'}) { candCounts[h0] = 0u; }
  ${anchored ? `for (var i = lid; i < ${anchorWords}u; i += WG) { hist[h0 * ${anchorWords}u + i] = 0u; }` : ''}
  ${projQueryStatements(D, R)}
  if (lid < PJ_QS) { qproj[h0 * PJ_QS + lid] = qpw[lid]; }
  ${anchored ? `// One sampled key a thread (the int8 query pass' spread): its upper bound from the codes.
  var top = -3.0e38;
  if (p.n > 0u) {
    let jj = min(p.n - 1u, u32(f32(lid) * f32(p.n) / f32(WG)));
    ${projDots(R, 1, made, storedProjCode(R), STORED_PROJ_META)}
    ${projHalfWidth(R, '0', made)}
    let ub = t.x + dt[0] + half;
    top = select(-3.0e38, ub, ub > -3.0e38 && ub < 3.0e38);
  }
  topRed[lid] = top;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { topRed[lid] = max(topRed[lid], topRed[lid + stride]); }
  }
  workgroupBarrier();
  if (lid == 0u) { anchor[h0] = select(0.0, topRed[0], p.n > 0u && topRed[0] > -1.0e38 && topRed[0] < 1.0e38); }` : ''}
}`;
}

/** Where a rule reads element i (vec4f) of head h's projected query. */
export type ProjQuery = (h: string, i: string) => string;
/** The query pass' output in storage (`qproj`, heads from h0). */
export const storedProjQuery = (R: number): ProjQuery => (h, i) => `qproj[(h0 + ${h}) * ${projQueryStride(R)}u + ${i}]`;

/**
 * The projection scan, K keys a thread: keys of [0, n) whose upper bound exceeds the bias for some
 * head of the scan group join the group's candidate list (ids [groups, stride], counts; one atomic
 * a workgroup). The K keys' codes are loaded before anything else. Bindings: codes 0, keyMeta 1,
 * the query pass' qproj 3. Dispatch (⌈n / (K·WG)⌉, kvHeads · group / GH).
 */
export function projScanSource(R: number, group: number, GH: number, K: number): string {
  const RW = projWords(R);
  return /* wgsl */ `
const WG = ${WG}u; const GH = ${GH}u; const HG = ${group / GH}u; const GS = ${group}u; const K = ${K}u; const RW = ${RW}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> codes: array<vec4u>;
@group(0) @binding(1) var<storage, read> keyMeta: array<vec2f>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> qproj: array<vec4f>;
var<workgroup> localCount: array<atomic<u32>, 1>;
var<workgroup> localBase: array<u32, 1>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y / HG; let h0 = kvh * GS + (wid.y % HG) * GH;
  var cw: array<vec4u, ${K * RW}>; var km: array<vec2f, K>; var key: array<u32, K>;
  for (var k = 0u; k < K; k++) {
    key[k] = (wid.x * K + k) * WG + lid; let jj = min(key[k], p.n - 1u);
    for (var w = 0u; w < RW; w++) { cw[k * RW + w] = codes[(kvh * RW + w) * p.stride + jj]; }
    km[k] = keyMeta[kvh * p.stride + jj];
  }
  var hit = array<bool, K>();
  for (var k = 0u; k < K; k++) {
    let valid = key[k] < p.n;
    ${projTake(R, GH, storedProjQuery(R), (w) => `cw[k * RW + ${w}]`, 'km[k]')}
    for (var h = 0u; h < GH; h++) { hit[k] = hit[k] || take[h]; }
  }
  let list0 = wid.y;
  ${appendUnion(K)}
}`;
}

/**
 * The projection bound's rule for one key (jj, `valid`): take[h] — the key's upper bound exceeds
 * the bias for head h0 + h, h < GH (a NaN bound takes it). `query`: where the projected query is;
 * `code(w)` / `meta`: the key's code word w and its (σ, ρ) (default: read from `codes` and
 * `keyMeta`, the projection codes of kvh). Needs p and, by default, kvh and jj in scope.
 */
export function projTake(R: number, GH: number, query: ProjQuery = storedProjQuery(R),
  code: (w: string) => string = storedProjCode(R), meta = STORED_PROJ_META): string {
  return `${projDots(R, GH, query, code, meta)}
  var take = array<bool, ${GH}>();
  for (var h = 0u; h < ${GH}u; h++) {
    ${projHalfWidth(R, 'h', query)}
    let ub = t.x + dt[h] + half;
    take[h] = valid && !(ub <= p.bias);
  }`;
}

/** A key's code word w and its (σ, ρ) in the projection's storage buffers (kvh, jj, p in scope). */
export const storedProjCode = (R: number) => (w: string): string => `codes[(kvh * ${projWords(R)}u + ${w}) * p.stride + jj]`;
export const STORED_PROJ_META = 'keyMeta[kvh * p.stride + jj]';

/**
 * Statements of a key's projection terms for GH heads: dt[h] = Σ (scale·a)·ĉ, ad[h] = Σ |scale·a·ĉ|
 * (its rounding's scale), and m = (σ, ρ).
 */
export function projDots(R: number, GH: number, query: ProjQuery, code: (w: string) => string, meta: string): string {
  return `var dt = array<f32, ${GH}>(); var ad = array<f32, ${GH}>();
  for (var w = 0u; w < ${projWords(R)}u; w++) {
    let c = ${code('w')};
    let c0 = vec4f(unpack2x16float(c.x), unpack2x16float(c.y)); let c1 = vec4f(unpack2x16float(c.z), unpack2x16float(c.w));
    for (var h = 0u; h < ${GH}u; h++) {
      let a0 = ${query('h', '2u * w')}; let a1 = ${query('h', '2u * w + 1u')};
      dt[h] += dot(a0, c0) + dot(a1, c1); ad[h] += dot(abs(a0), abs(c0)) + dot(abs(a1), abs(c1));
    }
  }
  let m = ${meta};`;
}

/**
 * After projDots, head h's bound: `t` its query constants and `half` with t.x + dt[h] ± half
 * bounding the scaled logit — the residual's width ‖a‖·σ + ‖q_r‖·ρ, ⟨q, μ⟩'s error, the scan's dot
 * products' rounding and 2⁻²⁰ of every term for the final additions (header).
 */
export function projHalfWidth(R: number, h: string, query: ProjQuery): string {
  return `let t = ${query(h, `${projQueryStride(R) - 1}u`)};
    let width = t.z * m.x + t.w * m.y;
    let half = width + t.y + ${(R + 2) * 2 ** -23} * ad[${h}] + (abs(t.x) + ad[${h}] + width) * 9.5367431640625e-7;`;
}
