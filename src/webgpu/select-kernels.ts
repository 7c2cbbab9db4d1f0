/**
 * WGSL of the sparse decode plans' threshold and top-k softmax selection (select.ts encodes them),
 * around the certified scan's histogram of bound gaps and its compaction (select-wgsl.ts):
 *   cut      per head, the bucket c below which every key that can be kept lies (its upper bound
 *            may reach the threshold, or may reach the k-th largest lower bound), and U(c), the
 *            upper bound on the skipped keys' mass; select-wgsl.ts compactSource then lists the
 *            candidates;
 *   score    each candidate's logit in double-float (below), and per head how many reach t;
 *   radix    top-k: the k-th best candidate by (logit desc, id asc) as a radix select, 8 bits
 *            a round over a 96-bit key, one dispatch a round, no readback (a threshold row that
 *            no key reaches: its best key, by three rounds of atomicMax);
 *   keep     the kept ids (a second list, for the gathered attention) and per workgroup the
 *            rejected candidates' mass;
 *   finish   U in cut[h] raised by that mass, so the merge's certified errorBound (wgsl.ts) covers
 *            every key left out.
 *
 * Exact logits. The CPU decides a key by its float64 logit (attention/threshold-rule.ts). WGSL has no
 * f64, so the score pass computes ⟨q, k⟩ in double-float: q and k split by masking their mantissas
 * into 12-bit halves (bit operations: no rounding, and safe from FMA contraction), so every partial
 * product is exact in f32, summed by twoSum with renormalisation. Its error is at most
 * 4D·2⁻⁴⁷·Σ|q_i k_i| (one 2⁻⁴⁷-relative rounding per addition); the float64 dot the CPU rounds is
 * within D·2⁻⁵³ of the same value. A key is kept when its double-float dot reaches t/scale minus
 * `err` (that error, the CPU's, and t/scale's own rounding): every key the CPU keeps is kept, and a
 * key the CPU drops is kept only if its logit lies within ~2⁻³⁶ relative of t (keys exactly at t
 * are kept on both). Top-k orders by the double-float value (ties: the smaller id), as the CPU by
 * float64 logits.
 *
 * Layouts: sc [heads, stride] vec4f (hi, lo, err, 0) of candidate slot i; radix [R + 1, heads] vec4u
 * states (key prefix words 0..2, rank still wanted) then [R, heads, 256] u32 digit counts; tally
 * [heads, TALLY] u32: (keys reaching t, —, —, —, then RW f32 rejected masses).
 */
import { rowOfSource, type KeyLayout } from './codes-wgsl.js';
import { ABOVE, NB } from './select-wgsl.js';
import { PARAMS, WG, type Storage } from './wgsl.js';

/** Most workgroups per head of the passes over candidates (each loops over its share). */
export const RW = 32;
/** Workgroups per head over the candidates of n keys (at most n of them): fewer where n is small. */
export function rankSplits(n: number): number {
  return Math.min(RW, Math.max(1, Math.ceil(n / WG)));
}
/** u32 words of a head's tally. */
export const TALLY = 4 + RW;
/** Radix rounds for positions below `stride`: 8 for the two float words, then the id's bits. */
export function radixRounds(stride: number): { rounds: number; idBits: number } {
  const idBits = Math.max(8, Math.ceil(Math.log2(Math.max(stride, 2))));
  return { rounds: 8 + Math.ceil(idBits / 8), idBits };
}

export type RankRule = 'threshold' | 'top-k';

/**
 * Per head (uniform): x, y = t/scale as a double-float (hi, lo), z = t (f32), w = bitcast u32:
 * top-k the rank wanted min(k, n), threshold 1 (a row no key reaches keeps its best key).
 */
const SEL = (heads: number) => /* wgsl */ `struct Sel { h: array<vec4f, ${heads}> }`;

const ORDER = /* wgsl */ `
fn fromOrdered(u: u32) -> f32 { return bitcast<f32>(select(~u, u & 0x7fffffffu, (u & 0x80000000u) != 0u)); }
fn toOrdered(f: f32) -> u32 { let u = bitcast<u32>(select(f, 0.0, f == 0.0)); return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u); }`;

/** Whether double-float dot (hi, lo) with error ≤ err reaches the threshold (thi, tlo) as the CPU's float64 test may. */
const REACHES = /* wgsl */ `
fn reaches(s: vec4f, t: vec4f) -> bool {
  let a = s.x - t.x; let bb = a - s.x; let e = (s.x - (a - bb)) + (-t.x - bb); // twoSum(hi, −thi)
  return a + (e + (s.y - t.y)) >= -(s.z + abs(t.x) * 9.094947017729282e-13);
}`;

/**
 * Pass 1 (one workgroup per head, its threads over the buckets: a thread walking 448 buckets of
 * global memory alone is a chain of dependent loads): c = max(c_rank, c_threshold) with c_rank
 * one past the first bucket where the lower-gap counts reach the wanted rank (the k-th largest
 * lower bound lies in it, so a key of the top k has its upper-gap bucket ≤ it) and c_threshold
 * past the gap of t lowered by the score pass's tolerance (2⁻³⁰·(|t| + scale·‖q‖·max‖k‖)) and
 * the gap's rounding, at least 1 (bucket 0 holds the keys far above the anchor); cut[h] =
 * (c, U(c), 0, anchor) as select-wgsl.ts cutSource, so compactSource lists the candidates.
 * U(c) = Σ_{b ≥ c} up_b·e^{−(b − ABOVE)/8} (edges rounded up; the f32 tree sum within 9·2⁻²⁴
 * relative, inside the ×1.0001).
 */
export function rankCutSource(heads: number, rule: RankRule): string {
  return /* wgsl */ `
const B = ${NB}u; const WG = ${WG}u; const SLOTS = ${2 * WG}u; const ABOVE = ${ABOVE}.0;
${PARAMS}
${SEL(heads)}
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read> edges: array<f32>;
@group(0) @binding(2) var<storage, read> anchor: array<f32>;
@group(0) @binding(3) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(4) var<uniform> sel: Sel;
@group(0) @binding(5) var<storage, read> coef: array<vec4f>;
@group(0) @binding(6) var<storage, read> normMax: array<u32>;
@group(0) @binding(7) var<uniform> p: Params;
var<workgroup> pre: array<u32, ${2 * WG}>;
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> cRank: atomic<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x; let s = sel.h[h]; let a = anchor[h];
  let need = bitcast<u32>(s.w);
  // Inclusive prefix sums of the lower-gap counts (Hillis–Steele, two buckets a thread).
  for (var i = lid; i < SLOTS; i += WG) { pre[i] = select(0u, hist[(h * B + min(i, B - 1u)) * 2u + 1u], i < B); }
  if (lid == 0u) { atomicStore(&cRank, B); }
  for (var off = 1u; off < SLOTS; off <<= 1u) {
    workgroupBarrier();
    let x = select(0u, pre[max(lid, off) - off], lid >= off);
    let y = select(0u, pre[max(lid + WG, off) - off], lid + WG >= off);
    workgroupBarrier();
    pre[lid] += x; pre[lid + WG] += y;
  }
  workgroupBarrier();
  for (var i = lid; i < B; i += WG) {
    if (pre[i] >= need && (i == 0u || pre[i - 1u] < need)) { atomicStore(&cRank, i + 1u); }
  }
  workgroupBarrier();
  var c = atomicLoad(&cRank);
  ${rule === 'threshold' ? `let t = s.z - (abs(s.z) + p.scale * coef[h].w * bitcast<f32>(normMax[0])) * 9.313225746154785e-10 - 1e-30;
  let g = (a - t) + (abs(a) + abs(t)) * 1.1920928955078125e-7;
  c = max(c, u32(clamp(floor(g * 8.0) + ABOVE + 2.0, 1.0, f32(B))));` : ''}
  c = min(c, B);
  var U = 0.0;
  for (var b = c + lid; b < B; b += WG) { U += f32(hist[(h * B + b) * 2u]) * edges[b]; }
  red[lid] = U;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  if (lid == 0u) { cut[h] = vec4f(bitcast<f32>(c), red[0] * 1.0001, 0.0, a); }
}`;
}

/**
 * Pass 2: every candidate's logit in double-float → sc; threshold rows count the candidates that
 * reach t (tally word 0). One thread a candidate (they are few: the bounds kept the rest out).
 */
export function scoreSource(D: number, heads: number, storage: Storage, layout: KeyLayout, rule: RankRule): string {
  const f16 = storage === 'f16';
  // Products of 12-bit halves: a f16 key has 11 significant bits, so it needs no split.
  const terms = f16
    ? 'acc = dfAdd(acc, qh * k); acc = dfAdd(acc, ql * k);'
    : 'let kh = hiPart(k); let kl = k - kh; acc = dfAdd(acc, qh * kh); acc = dfAdd(acc, qh * kl); acc = dfAdd(acc, ql * kh); acc = dfAdd(acc, ql * kl);';
  return /* wgsl */ `
const WG = ${WG}u; const TALLY = ${TALLY}u;
${PARAMS}
${SEL(heads)}
@group(0) @binding(0) var<storage, read> K: array<${f16 ? 'vec4u' : 'vec4f'}>;
@group(0) @binding(1) var<storage, read> Q: array<vec4f>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> sc: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> tally: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> sel: Sel;
@group(0) @binding(8) var<uniform> rp: Round;
${typeof layout === 'object' ? '@group(0) @binding(9) var<storage, read> pages: array<u32>;' : ''}
${ROUND}
${rowOfSource(layout, 'p.cap')}
var<workgroup> reached: atomic<u32>;
${REACHES}
fn hiPart(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u); }
// (hi, lo) + an exact product: twoSum, then renormalised (fastTwoSum).
fn dfAdd(a: vec2f, x: f32) -> vec2f {
  let s = a.x + x; let bb = s - a.x; let e = ((a.x - (s - bb)) + (x - bb)) + a.y;
  let h = s + e; return vec2f(h, e - (h - s));
}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let head = wid.y; let kvh = head / p.groupSize; let count = counts[head];
  for (var i = wid.x * WG + lid; i < count; i += rp.splits * WG) {
    let row = rowOf(kvh, ids[head * p.stride + i]);
    var acc = vec2f(0.0); var S = 0.0;
    for (var u = 0u; u < ${D / 8}u; u++) {
      ${f16
        ? 'let w = K[row * ' + D / 8 + 'u + u]; var ks = array<vec4f, 2>(vec4f(unpack2x16float(w.x), unpack2x16float(w.y)), vec4f(unpack2x16float(w.z), unpack2x16float(w.w)));'
        : 'var ks = array<vec4f, 2>(K[row * ' + D / 4 + 'u + 2u * u], K[row * ' + D / 4 + 'u + 2u * u + 1u]);'}
      for (var half = 0u; half < 2u; half++) {
        let qv = Q[head * ${D / 4}u + 2u * u + half]; let kv = ks[half];
        for (var c = 0u; c < 4u; c++) {
          let q = qv[c]; let k = kv[c]; let qh = hiPart(q); let ql = q - qh;
          ${terms}
          S += abs(q) * abs(k);
        }
      }
    }
    // 4D·2⁻⁴⁷ (double-float) + D·2⁻⁵³ (the CPU's float64) of Σ|q k| (itself rounded: ×1.001),
    // and flushed subnormal products.
    let err = S * 1.001 * ${(4 * D * 2 ** -47 + D * 2 ** -53).toExponential(8)} + 1e-33;
    let s = vec4f(select(acc.x, 0.0, acc.x == 0.0), acc.y, err, 0.0);
    sc[head * p.stride + i] = s;
    ${rule === 'threshold' ? 'if (reaches(s, sel.h[head])) { atomicAdd(&reached, 1u); }' : ''}
  }
  ${rule === 'threshold' ? `workgroupBarrier();
  if (lid == 0u) { let r = atomicLoad(&reached); if (r > 0u) { atomicAdd(&tally[head * TALLY], r); } }` : ''}
}`;
}

/**
 * The radix passes' uniform: this round, the key's id bits, the id lists' stride, where the digit
 * counts start, the scale, and the workgroups per head over the candidates.
 */
const ROUND = /* wgsl */ `struct Round { round: u32, idBits: u32, stride: u32, hist: u32, scale: f32, splits: u32, p0: u32, p1: u32 }`;

/**
 * The radix select's shared part: the 96-bit key of a candidate — ordered hi, ordered lo, and the
 * id reversed (a smaller id ranks higher) in the top idBits — and `stateFor`, which turns the
 * previous round's digit counts into the state entering this round (every workgroup computes it,
 * the same way, so no pass of its own is needed). A state is (key prefix words 0..2, rank still
 * wanted among the candidates matching the prefix); rank 0: nothing to rank; DONE: every candidate
 * matching the prefix is wanted, so K* is the prefix with zero low bits and the later rounds have
 * nothing to do (with distinct scores, after the rounds over hi).
 */
function radixCommon(heads: number): string {
  return /* wgsl */ `
const WG = ${WG}u; const TALLY = ${TALLY}u; const HEADS = ${heads}u; const DONE = 0xffffffffu;
${ROUND}
${SEL(heads)}
@group(0) @binding(0) var<storage, read> sc: array<vec4f>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> radix: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> tally: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> rp: Round;
@group(0) @binding(6) var<uniform> sel: Sel;
var<workgroup> sfx: array<u32, 257>;
var<workgroup> picked: vec4u;
var<workgroup> countHere: u32;
${ORDER}
fn keyOf(s: vec4f, id: u32) -> vec3u {
  return vec3u(toOrdered(s.x), toOrdered(s.y), (rp.stride - 1u - id) << (32u - rp.idBits));
}
// Bits of word w known after r rounds, as a mask.
fn known(w: u32, r: u32) -> u32 {
  let b = clamp(i32(8u * r) - i32(32u * w), 0, 32);
  return select(~(0xffffffffu >> u32(b)), 0xffffffffu, b == 32);
}
fn matches(k: vec3u, st: vec4u, r: u32) -> bool {
  return ((k.x ^ st.x) & known(0u, r)) == 0u && ((k.y ^ st.y) & known(1u, r)) == 0u && ((k.z ^ st.z) & known(2u, r)) == 0u;
}
fn digit(k: vec3u, r: u32) -> u32 { return (k[r / 4u] >> (24u - 8u * (r % 4u))) & 255u; }
fn stateAt(i: u32) -> vec4u {
  return vec4u(atomicLoad(&radix[4u * i]), atomicLoad(&radix[4u * i + 1u]), atomicLoad(&radix[4u * i + 2u]), atomicLoad(&radix[4u * i + 3u]));
}
fn setState(i: u32, s: vec4u) {
  atomicStore(&radix[4u * i], s.x); atomicStore(&radix[4u * i + 1u], s.y); atomicStore(&radix[4u * i + 2u], s.z); atomicStore(&radix[4u * i + 3u], s.w);
}
fn stateFor(h: u32, lid: u32) -> vec4u {
  if (lid == 0u) { countHere = counts[h]; }
  if (rp.round == 0u) {
    if (lid == 0u) { picked = vec4u(0u, 0u, 0u, bitcast<u32>(sel.h[h].w)); }
    return workgroupUniformLoad(&picked);
  }
  let r = rp.round - 1u;
  if (lid == 0u) { picked = stateAt(r * HEADS + h); }
  let prev = workgroupUniformLoad(&picked);
  if (prev.w == 0u || prev.w == DONE) { return prev; }
  sfx[lid] = atomicLoad(&radix[rp.hist + (r * HEADS + h) * 256u + lid]);
  if (lid == 0u) { sfx[256] = 0u; }
  // Suffix sums: sfx[d] = matching candidates whose digit r is ≥ d; the digit picked is the one
  // where they pass the rank wanted.
  for (var off = 1u; off < 256u; off <<= 1u) {
    workgroupBarrier();
    let v = select(0u, sfx[min(lid + off, 255u)], lid + off < 256u);
    workgroupBarrier();
    sfx[lid] += v;
  }
  workgroupBarrier();
  if (sfx[lid] >= prev.w && sfx[lid + 1u] < prev.w) {
    var st = prev;
    st[r / 4u] |= lid << (24u - 8u * (r % 4u));
    st.w = select(prev.w - sfx[lid + 1u], DONE, sfx[lid] == prev.w);
    picked = st;
  }
  return workgroupUniformLoad(&picked);
}`;
}

/**
 * One radix round (dispatch (RW, heads)): the state entering it (stored for the next), then counts
 * of this round's digit over the candidates still matching. Rows with nothing to rank (threshold
 * rows that some key reaches) return at once.
 */
export function radixSource(heads: number): string {
  return /* wgsl */ `${radixCommon(heads)}
var<workgroup> local: array<atomic<u32>, 256>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.y;
  let st = stateFor(h, lid);
  if (wid.x == 0u && lid == 0u) { setState(rp.round * HEADS + h, st); }
  if (st.w == 0u || st.w == DONE) { return; }
  let count = workgroupUniformLoad(&countHere);
  for (var i = wid.x * WG + lid; i < count; i += rp.splits * WG) {
    let k = keyOf(sc[h * rp.stride + i], ids[h * rp.stride + i]);
    if (matches(k, st, rp.round)) { atomicAdd(&local[digit(k, rp.round)], 1u); }
  }
  workgroupBarrier();
  let c = atomicLoad(&local[lid]);
  if (c > 0u) { atomicAdd(&radix[rp.hist + (rp.round * HEADS + h) * 256u + lid], c); }
}`;
}

/**
 * Threshold rows' fallback (a row no key reaches keeps its best key): the rank wanted is at most 1,
 * so three rounds of atomicMax — key word 0, then word 1 among the candidates matching word 0,
 * then word 2 — find K* in state slot 0 (rank DONE), where a radix select would take 8 rounds and
 * more. Rows some key reaches return at once (state rank 0). Dispatch (RW, heads) for rounds 0..2.
 */
export function bestKeySource(heads: number): string {
  return /* wgsl */ `${radixCommon(heads)}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.y; let none = atomicLoad(&tally[h * TALLY]) == 0u;
  if (rp.round == 0u && wid.x == 0u && lid == 0u) { atomicStore(&radix[4u * h + 3u], select(0u, DONE, none)); }
  if (!none) { return; }
  let w = rp.round; let p0 = atomicLoad(&radix[4u * h]); let p1 = atomicLoad(&radix[4u * h + 1u]);
  for (var i = wid.x * WG + lid; i < counts[h]; i += rp.splits * WG) {
    let k = keyOf(sc[h * rp.stride + i], ids[h * rp.stride + i]);
    if ((w < 1u || k.x == p0) && (w < 2u || k.y == p1)) { atomicMax(&radix[4u * h + w], k[w]); }
  }
}`;
}

/**
 * Last pass (dispatch (RW, heads)): the final pick (the k-th best key K*: after the last round the
 * state is DONE), then the kept ids — keys ≥ K*, or for threshold rows some key reaches, the keys
 * that reach t — appended to keptIds
 * (workgroup-aggregated), and each workgroup's rejected candidates' mass Σ e^{x − m0} (x their
 * logit rounded up, terms under e^{−80} counted at e^{−80}) to tally[4 + workgroup] as f32.
 */
export function keepSource(heads: number): string {
  return /* wgsl */ `${radixCommon(heads)}
@group(0) @binding(7) var<storage, read_write> keptIds: array<u32>;
@group(0) @binding(8) var<storage, read_write> keptCounts: array<atomic<u32>>;
@group(0) @binding(9) var<storage, read> cut: array<vec4f>;
var<workgroup> keptHere: atomic<u32>;
var<workgroup> keptBase: u32;
var<workgroup> red: array<f32, WG>;
${REACHES}
fn atLeast(k: vec3u, st: vec4u) -> bool {
  if (k.x != st.x) { return k.x > st.x; }
  if (k.y != st.y) { return k.y > st.y; }
  return k.z >= st.z;
}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.y;
  let st = stateFor(h, lid);
  if (wid.x == 0u && lid == 0u) { setState(rp.round * HEADS + h, st); }
  let count = workgroupUniformLoad(&countHere);
  let m0 = cut[h].w; let t = sel.h[h];
  var mass = 0.0;
  for (var base = wid.x * WG; base < count; base += rp.splits * WG) {
    let i = base + lid;
    var keep = false; var id = 0u;
    if (i < count) {
      let s = sc[h * rp.stride + i]; id = ids[h * rp.stride + i];
      keep = select(reaches(s, t), atLeast(keyOf(s, id), st), st.w > 0u);
      if (!keep) {
        let x = (s.x + abs(s.y) + s.z) * rp.scale;
        mass += exp(max(x + abs(x) * 9.5367431640625e-7 + 1e-30 - m0, -80.0)) * 1.0001;
      }
    }
    var pos = 0u;
    if (keep) { pos = atomicAdd(&keptHere, 1u); }
    workgroupBarrier();
    if (lid == 0u) { keptBase = atomicAdd(&keptCounts[h], atomicLoad(&keptHere)); atomicStore(&keptHere, 0u); }
    workgroupBarrier();
    if (keep) { keptIds[h * rp.stride + keptBase + pos] = id; }
  }
  red[lid] = mass;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  if (lid == 0u) { atomicStore(&tally[h * TALLY + 4u + wid.x], bitcast<u32>(red[0])); }
}`;
}

/**
 * Last pass, one workgroup of RW threads per head: U in cut[h] raised by the rejected candidates'
 * mass (the keep pass's per-workgroup f32 sums: ≤ m terms a thread, 8 halvings, then 5 here, each
 * addition within 2⁻²⁴ relative: ×(1 + (m + 16)·2⁻²³)), and L cleared (the cut's L is not a lower
 * bound on the kept mass here). The merge's certifiedBound then bounds the TV of the kept set.
 */
export function finishSource(): string {
  return /* wgsl */ `
const WG = ${WG}u; const RW = ${RW}u; const TALLY = ${TALLY}u;
${ROUND}
@group(0) @binding(0) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(1) var<storage, read> tally: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<uniform> rp: Round;
var<workgroup> red: array<f32, RW>;
@compute @workgroup_size(${RW})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  red[lid] = select(0.0, bitcast<f32>(tally[h * TALLY + 4u + lid]), lid < rp.splits);
  for (var stride = RW / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  if (lid == 0u) {
    let m = f32((counts[h] + rp.splits * WG - 1u) / (rp.splits * WG));
    let ct = cut[h];
    cut[h] = vec4f(ct.x, (ct.y + red[0] * (1.0 + (m + 16.0) * 1.1920928955078125e-7)) * 1.00000012, 0.0, ct.w);
  }
}`;
}
