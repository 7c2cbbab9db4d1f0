/**
 * WGSL of the sparse decode plans' threshold and top-k softmax selection (select.ts encodes them),
 * around the certified scan's histogram of bound gaps and its compaction (select-wgsl.ts). Three
 * passes of their own a step:
 *   cut      per head, the bucket c below which every key that can be kept lies (its upper bound
 *            may reach the threshold, or may reach the k-th largest lower bound), and U(c), the
 *            upper bound on the skipped keys' mass; select-wgsl.ts compactSource then lists the
 *            candidates;
 *   top-k    score: each candidate's logit in double-float (below), over many workgroups; select:
 *            one workgroup a head, the k-th best candidate by (logit desc, id asc) as a radix
 *            select looping in the shader, then the kept ids (a second list, for the gathered
 *            attention), the rejected candidates' mass, and U in cut[h] raised by it, so the
 *            merge's certified errorBound (wgsl.ts) covers every key left out;
 *   threshold  keep: each candidate scored (a thread each) and, if it reaches t, listed at
 *            once, over many workgroups, each leaving a summary of the rest; finish: one workgroup
 *            a head joins the summaries (the best key, kept alone when no key reaches t; the
 *            rejected mass into U). A threshold row's candidates can number thousands: one
 *            workgroup a head walking them was its step's largest pass (run 7, docs/webgpu.md).
 * A step of these rules once took ~20 passes (radix rounds, best-key rounds, keep and finish passes,
 * buffer clears between steps), each a few µs of launch and barrier on an H100 for little work.
 *
 * Exact logits. The CPU decides a key by its float64 logit (attention/threshold-rule.ts). WGSL has no
 * f64, so the score pass computes ⟨q, k⟩ in double-float: q and k split by masking their mantissas
 * into 12-bit halves (bit operations: no rounding, and safe from FMA contraction), so every partial
 * product is exact in f32, summed by twoSum with renormalisation. Its error is at most
 * 4D·2⁻⁴⁷·Σ|q_i k_i| (one 2⁻⁴⁷·Σ|q_i k_i| rounding per addition: every partial sum is at most
 * Σ|q_i k_i|); the float64 dot the CPU rounds is
 * within D·2⁻⁵³ of the same value. A key is kept when its double-float dot reaches t/scale minus
 * `err` (that error, the CPU's, and t/scale's own rounding): every key the CPU keeps is kept, and a
 * key the CPU drops is kept only if its logit lies within ~2⁻³⁶ relative of t (keys exactly at t
 * are kept on both). Top-k orders by the double-float value (ties: the smaller id), as the CPU by
 * float64 logits.
 *
 * Layout: sc [heads, stride] vec4f (hi, lo, err, 0) of candidate slot i (top-k).
 */
import { rowOfSource, type KeyLayout } from './codes-wgsl.js';
import { ABOVE, NB } from './select-wgsl.js';
import { PARAMS, WG, type Storage } from './wgsl.js';

/** Most workgroups per head of the score pass (each loops over its share of the candidates). */
const SCORE_SPLITS = 32;
/** Workgroups per head of the score pass over the candidates of n keys (at most n of them): fewer where n is small. */
export function scoreSplits(n: number): number {
  return Math.min(SCORE_SPLITS, Math.max(1, Math.ceil(n / WG)));
}
/**
 * Candidates per thread whose keys the select pass's top-k rounds keep in registers (CACHED·WG of a
 * head); candidates beyond are read again each round (correct at any count, slower).
 */
export const CACHED = 8;

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
 * A candidate's 96-bit rank key (ordered hi, ordered lo, the id reversed in the top idBits of word
 * 2: a smaller id ranks higher) and its order; initKeys sets idShift = 32 − idBits, idBits =
 * max(8, ⌈log2 stride⌉), and returns idBits. Needs PARAMS (p.stride) and ORDER.
 */
const KEYS = /* wgsl */ `
var<private> idShift: u32;
fn initKeys() -> u32 {
  let idBits = max(8u, 32u - countLeadingZeros(max(p.stride, 2u) - 1u));
  idShift = 32u - idBits;
  return idBits;
}
fn keyOf(s: vec4f, id: u32) -> vec3u {
  return vec3u(toOrdered(s.x), toOrdered(s.y), (p.stride - 1u - id) << idShift);
}
fn atLeast(k: vec3u, st: vec3u) -> bool {
  if (k.x != st.x) { return k.x > st.x; }
  if (k.y != st.y) { return k.y > st.y; }
  return k.z >= st.z;
}`;

/**
 * A rejected candidate's mass relative to the anchor m0: e^{x − m0}, x its logit (double-float
 * score plus its error, scaled) rounded up, terms under e^{−80} counted at e^{−80}, ×1.0001 for
 * exp's own error. Needs PARAMS (p.scale).
 */
const MASS = /* wgsl */ `
fn rejectedMass(s: vec4f, m0: f32) -> f32 {
  let x = (s.x + abs(s.y) + s.z) * p.scale;
  return exp(max(x + abs(x) * 9.5367431640625e-7 + 1e-30 - m0, -80.0)) * 1.0001;
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
${rule === 'threshold' ? '@group(0) @binding(8) var<storage, read_write> keptCounts: array<u32>;' : ''}
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
  if (lid == 0u) {
    cut[h] = vec4f(bitcast<f32>(c), red[0] * 1.0001, 0.0, a);
    ${rule === 'threshold' ? 'keptCounts[h] = 0u; // the keep pass appends to it' : ''}
  }
}`;
}

/**
 * WGSL of a candidate's exact score: the bindings K (0) and Q (1), the page table (at `pagesAt`,
 * paged layout), and `fn score(head, id) -> vec4f` = (hi, lo, err, 0), ⟨q, k⟩ in double-float (see
 * the top) with its error bound `err`. Needs PARAMS (p.cap, p.groupSize) declared.
 */
function scoreFns(D: number, storage: Storage, layout: KeyLayout, pagesAt: number): string {
  const f16 = storage === 'f16';
  // Products of 12-bit halves: a f16 key has 11 significant bits, so it needs no split.
  const terms = f16
    ? 'acc = dfAdd(acc, qh * k); acc = dfAdd(acc, ql * k);'
    : 'let kh = hiPart(k); let kl = k - kh; acc = dfAdd(acc, qh * kh); acc = dfAdd(acc, qh * kl); acc = dfAdd(acc, ql * kh); acc = dfAdd(acc, ql * kl);';
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> K: array<${f16 ? 'vec4u' : 'vec4f'}>;
@group(0) @binding(1) var<storage, read> Q: array<vec4f>;
${typeof layout === 'object' ? `@group(0) @binding(${pagesAt}) var<storage, read> pages: array<u32>;` : ''}
${rowOfSource(layout, 'p.cap')}
fn hiPart(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u); }
// (hi, lo) + an exact product: twoSum, then renormalised (fastTwoSum).
fn dfAdd(a: vec2f, x: f32) -> vec2f {
  let s = a.x + x; let bb = s - a.x; let e = ((a.x - (s - bb)) + (x - bb)) + a.y;
  let h = s + e; return vec2f(h, e - (h - s));
}
fn score(head: u32, id: u32) -> vec4f {
  let row = rowOf(head / p.groupSize, id);
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
  // 4D·2⁻⁴⁷ (double-float additions) + D·2⁻⁵³ (the CPU's float64) of Σ|q k| (itself rounded:
  // ×1.001), and flushed subnormal products.
  let err = S * 1.001 * (${(4 * D * 2 ** -47).toExponential(8)} + ${(D * 2 ** -53).toExponential(8)}) + 1e-33;
  return vec4f(select(acc.x, 0.0, acc.x == 0.0), acc.y, err, 0.0);
}`;
}

/**
 * Pass 2 (top-k): every candidate's logit in double-float → sc (one thread a candidate: they are
 * few, the bounds kept the rest out). Dispatch (scoreSplits(n), heads).
 */
export function scoreSource(D: number, storage: Storage, layout: KeyLayout): string {
  return /* wgsl */ `
const WG = ${WG}u;
${PARAMS}
${scoreFns(D, storage, layout, 6)}
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> sc: array<vec4f>;
@group(0) @binding(5) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let head = wid.y; let count = counts[head];
  for (var i = wid.x * WG + lid; i < count; i += nwg.x * WG) {
    sc[head * p.stride + i] = score(head, ids[head * p.stride + i]);
  }
}`;
}

/**
 * Top-k, pass 3, one workgroup a head over its scored candidates (the cut left few: hundreds to a
 * few thousand), everything after the scores in one pass — no state crosses workgroups, so nothing
 * needs clearing between steps:
 *   rank       K*, the k-th best candidate by (logit desc, id asc), by a radix select over its
 *              96-bit key (KEYS), 8 bits a round, a loop in the shader; a state (key prefix words
 *              0..2, rank still wanted among the candidates matching the prefix) becomes DONE once
 *              every candidate matching the prefix is wanted — K* is then the prefix with zero low
 *              bits, and the rounds stop (with distinct scores, after the rounds over hi); the
 *              rounds start past the leading bytes every candidate shares. A
 *              thread keeps the keys of its first CACHED candidates in registers; further ones
 *              (top-k beyond ~CACHED·WG candidates) are re-read each round.
 *   keep       the kept ids (keys ≥ K*) into keptIds, their number into keptCounts, and the
 *              rejected candidates' mass (MASS);
 *   finish     U in cut[h] raised by that mass (≤ m terms a thread, then 8 halvings, each
 *              addition within 2⁻²⁴ relative: ×(1 + (m + 16)·2⁻²³)), and L cleared (the cut's L is
 *              not a lower bound on the kept mass here), so the merge's certified errorBound
 *              covers every key left out.
 * Dispatch (heads).
 */
export function selectSource(heads: number): string {
  return /* wgsl */ `
const WG = ${WG}u; const CACHED = ${CACHED}u; const DONE = 0xffffffffu;
${PARAMS}
${SEL(heads)}
@group(0) @binding(0) var<storage, read> sc: array<vec4f>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> keptIds: array<u32>;
@group(0) @binding(4) var<storage, read_write> keptCounts: array<u32>;
@group(0) @binding(5) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> sel: Sel;
var<workgroup> kept: atomic<u32>;
var<workgroup> red: array<f32, WG>;
var<workgroup> bins: array<atomic<u32>, 256>;
var<workgroup> sfx: array<u32, 257>;
var<workgroup> picked: vec4u;
var<workgroup> firstRound: u32;
var<workgroup> anyOne: array<atomic<u32>, 3>;
var<workgroup> anyZero: array<atomic<u32>, 3>;
${ORDER}
${KEYS}
${MASS}
// Bits of word w known after r rounds, as a mask.
fn known(w: u32, r: u32) -> u32 {
  let b = clamp(i32(8u * r) - i32(32u * w), 0, 32);
  return select(~(0xffffffffu >> u32(b)), 0xffffffffu, b == 32);
}
// Counts digit r of a candidate matching the state's prefix.
fn tally(k: vec3u, st: vec4u, r: u32) {
  if (((k.x ^ st.x) & known(0u, r)) == 0u && ((k.y ^ st.y) & known(1u, r)) == 0u && ((k.z ^ st.z) & known(2u, r)) == 0u) {
    atomicAdd(&bins[(k[r / 4u] >> (24u - 8u * (r % 4u))) & 255u], 1u);
  }
}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x; let base = h * p.stride; let count = counts[h]; let t = sel.h[h];
  let idBits = initKeys();
  var mine: array<vec3u, CACHED>;
  var ors = vec3u(0u); var orNots = vec3u(0u);
  for (var j = 0u; j < CACHED; j++) {
    let i = lid + j * WG;
    if (i < count) { let k = keyOf(sc[base + i], ids[base + i]); mine[j] = k; ors |= k; orNots |= ~k; }
  }
  for (var i = lid + CACHED * WG; i < count; i += WG) { let k = keyOf(sc[base + i], ids[base + i]); ors |= k; orNots |= ~k; }
  for (var w = 0u; w < 3u; w++) { atomicOr(&anyOne[w], ors[w]); atomicOr(&anyZero[w], orNots[w]); }
  workgroupBarrier();
  let rounds = 8u + (idBits + 7u) / 8u;
  // Rounds over leading bytes that every candidate shares (the sign and exponent of logits alike,
  // mostly) would each pick the one digit there is and leave the rank wanted as it was: start
  // after them, with that prefix.
  if (lid == 0u) {
    var lead = 96u;
    for (var w = 3u; w > 0u; w--) {
      let differ = atomicLoad(&anyOne[w - 1u]) & atomicLoad(&anyZero[w - 1u]);
      if (differ != 0u) { lead = 32u * (w - 1u) + countLeadingZeros(differ); }
    }
    let r0 = min(lead / 8u, rounds);
    picked = vec4u(atomicLoad(&anyOne[0]) & known(0u, r0), atomicLoad(&anyOne[1]) & known(1u, r0), atomicLoad(&anyOne[2]) & known(2u, r0), bitcast<u32>(t.w));
    firstRound = r0;
  }
  var st = workgroupUniformLoad(&picked);
  for (var r = workgroupUniformLoad(&firstRound); r < rounds; r++) {
    if (st.w == 0u || st.w == DONE) { break; }
    atomicStore(&bins[lid], 0u);
    workgroupBarrier();
    for (var j = 0u; j < CACHED; j++) { if (lid + j * WG < count) { tally(mine[j], st, r); } }
    for (var i = lid + CACHED * WG; i < count; i += WG) { tally(keyOf(sc[base + i], ids[base + i]), st, r); }
    workgroupBarrier();
    // Suffix sums: sfx[d] = matching candidates whose digit r is ≥ d; the digit picked is the one
    // where they pass the rank wanted.
    sfx[lid] = atomicLoad(&bins[lid]);
    if (lid == 0u) { sfx[256] = 0u; }
    for (var off = 1u; off < 256u; off <<= 1u) {
      workgroupBarrier();
      let v = select(0u, sfx[min(lid + off, 255u)], lid + off < 256u);
      workgroupBarrier();
      sfx[lid] += v;
    }
    workgroupBarrier();
    if (sfx[lid] >= st.w && sfx[lid + 1u] < st.w) {
      var nx = st;
      nx[r / 4u] |= lid << (24u - 8u * (r % 4u));
      nx.w = select(st.w - sfx[lid + 1u], DONE, sfx[lid] == st.w);
      picked = nx;
    }
    st = workgroupUniformLoad(&picked);
  }
  let m0 = cut[h].w;
  var mass = 0.0;
  for (var i = lid; i < count; i += WG) {
    let s = sc[base + i]; let id = ids[base + i];
    if (atLeast(keyOf(s, id), st.xyz)) {
      keptIds[base + atomicAdd(&kept, 1u)] = id;
    } else {
      mass += rejectedMass(s, m0);
    }
  }
  red[lid] = mass;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  if (lid == 0u) {
    keptCounts[h] = atomicLoad(&kept);
    let m = f32((count + WG - 1u) / WG);
    let ct = cut[h];
    cut[h] = vec4f(ct.x, (ct.y + red[0] * (1.0 + (m + 16.0) * 1.1920928955078125e-7)) * 1.00000012, 0.0, ct.w);
  }
}`;
}

/** Most workgroups per head of the threshold keep pass (each strides over its share of the candidates). */
const KEEP_SPLITS = 256;
/** Workgroups per head of the threshold keep pass over the candidates of n keys (at most n of them). */
export function keepSplits(n: number): number {
  return Math.min(KEEP_SPLITS, Math.max(1, Math.ceil(n / WG)));
}
/**
 * Bytes of the kept counts' buffer of threshold rows: per head the kept keys' number (u32, first:
 * the gathered attention reads it as `counts`), then the keep pass's workgroups a head, then two
 * vec4u a workgroup of partial results (threshKeepSource).
 */
export function keptBytes(heads: number): number {
  return 2 * 16 * Math.ceil(heads / 4) + heads * KEEP_SPLITS * 32;
}
/** The kept counts' buffer of threshold rows, as keptBytes lays it out (`count`: the counts' type). */
const KEPT = (heads: number, count: string) => /* wgsl */ `
struct Kept { counts: array<${count}, ${4 * Math.ceil(heads / 4)}>, splits: array<u32, ${4 * Math.ceil(heads / 4)}>, part: array<vec4u> }`;

/**
 * A set of candidates summarised for the threshold rows: its best key (rank key, id; id NONE: the
 * set is empty), the rejected mass of every other candidate, and the best key's own (0 when it is
 * kept). `join` merges two summaries: the better best key stays, the other's mass joins the rest —
 * so the best key's mass can be left out when no key reaches t and it alone is kept. Needs KEYS.
 */
const SUMMARY = /* wgsl */ `
const NONE = 0xffffffffu;
struct Summary { key: vec4u, mass: f32, bestMass: f32 }
fn join(a: Summary, b: Summary) -> Summary {
  if (b.key.w != NONE && (a.key.w == NONE || atLeast(b.key.xyz, a.key.xyz))) { return Summary(b.key, (a.mass + b.mass) + a.bestMass, b.bestMass); }
  return Summary(a.key, (a.mass + b.mass) + b.bestMass, a.bestMass);
}
var<workgroup> redKey: array<vec4u, WG>;
var<workgroup> redMass: array<vec2f, WG>;
// The workgroup's summaries joined by a tree (8 levels); the result in redKey[0], redMass[0].
fn joinAll(mine: Summary, lid: u32) {
  redKey[lid] = mine.key; redMass[lid] = vec2f(mine.mass, mine.bestMass);
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) {
      let j = join(Summary(redKey[lid], redMass[lid].x, redMass[lid].y), Summary(redKey[lid + stride], redMass[lid + stride].x, redMass[lid + stride].y));
      redKey[lid] = j.key; redMass[lid] = vec2f(j.mass, j.bestMass);
    }
  }
  workgroupBarrier();
}`;

/**
 * Threshold rows, pass 2 of 3 in place of score and select (spread over keepSplits(n) workgroups a
 * head, so it scales with the candidates): each candidate's logit in double-float, a thread
 * each (WG candidates a workgroup and loop step); the ones that reach t appended to
 * keptIds (one atomic on the head's count a workgroup and loop step; rank cut zeroed it); the
 * workgroup's Summary of the rest into kept.part. Dispatch (keepSplits(n), heads).
 */
export function thresholdKeepSource(D: number, storage: Storage, layout: KeyLayout, heads: number): string {
  return /* wgsl */ `
const WG = ${WG}u;
${PARAMS}
${SEL(heads)}
${KEPT(heads, 'atomic<u32>')}
${scoreFns(D, storage, layout, 9)}
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> keptIds: array<u32>;
@group(0) @binding(5) var<storage, read_write> kept: Kept;
@group(0) @binding(6) var<storage, read> cut: array<vec4f>;
@group(0) @binding(7) var<uniform> p: Params;
@group(0) @binding(8) var<uniform> sel: Sel;
var<workgroup> wgCount: u32;
var<workgroup> localCount: atomic<u32>;
var<workgroup> localBase: u32;
${ORDER}
${REACHES}
${KEYS}
${MASS}
${SUMMARY}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let head = wid.y; let base = head * p.stride; let t = sel.h[head]; let m0 = cut[head].w;
  initKeys();
  // (Workgroup memory starts zeroed in WGSL; set anyway: Dawn on an H100 broke such promises before, select-wgsl.ts.)
  if (lid == 0u) { wgCount = counts[head]; atomicStore(&localCount, 0u); }
  let count = workgroupUniformLoad(&wgCount);
  var mine = Summary(vec4u(0u, 0u, 0u, NONE), 0.0, 0.0);
  for (var i0 = wid.x * WG; i0 < count; i0 += nwg.x * WG) {
    let i = i0 + lid; var keep = false; var id = 0u;
    if (i < count) {
      id = ids[base + i];
      let s = score(head, id);
      keep = reaches(s, t);
      mine = join(mine, Summary(vec4u(keyOf(s, id), id), 0.0, select(rejectedMass(s, m0), 0.0, keep)));
    }
    var pos = 0u;
    if (keep) { pos = atomicAdd(&localCount, 1u); }
    workgroupBarrier();
    if (lid == 0u) {
      let c = atomicLoad(&localCount);
      localBase = select(0u, atomicAdd(&kept.counts[head], c), c > 0u);
      atomicStore(&localCount, 0u);
    }
    workgroupBarrier();
    if (keep) { keptIds[base + localBase + pos] = id; }
  }
  joinAll(mine, lid);
  if (lid == 0u) {
    let at = 2u * (head * ${KEEP_SPLITS}u + wid.x);
    kept.part[at] = redKey[0];
    kept.part[at + 1u] = vec4u(bitcast<u32>(redMass[0].x), bitcast<u32>(redMass[0].y), 0u, 0u);
    if (wid.x == 0u) { kept.splits[head] = nwg.x; }
  }
}`;
}

/**
 * Threshold rows, pass 3 of 3, one workgroup a head over the keep pass's partial Summaries: no
 * key reached t → keep the best key alone (its mass left out); U in cut[h] raised by the rejected
 * mass and L cleared, as selectSource's finish. The mass is a sum of ≤ m + 35 roundings (m
 * candidates a deciding thread, two a level of two 8-level trees, and one), each within 2⁻²⁴ relative:
 * ×(1 + (m + 48)·2⁻²³). Dispatch (heads).
 */
export function thresholdFinishSource(heads: number): string {
  return /* wgsl */ `
const WG = ${WG}u;
${PARAMS}
${KEPT(heads, 'u32')}
@group(0) @binding(0) var<storage, read_write> keptIds: array<u32>;
@group(0) @binding(1) var<storage, read_write> kept: Kept;
@group(0) @binding(2) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;
${ORDER}
${KEYS}
${SUMMARY}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x; let splits = kept.splits[h];
  initKeys();
  var mine = Summary(vec4u(0u, 0u, 0u, NONE), 0.0, 0.0);
  for (var w = lid; w < splits; w += WG) {
    let at = 2u * (h * ${KEEP_SPLITS}u + w); let m = kept.part[at + 1u];
    mine = join(mine, Summary(kept.part[at], bitcast<f32>(m.x), bitcast<f32>(m.y)));
  }
  joinAll(mine, lid);
  if (lid == 0u) {
    let best = redKey[0]; let rest = redMass[0];
    var mass = rest.x + rest.y;
    if (kept.counts[h] == 0u && best.w != NONE) {
      keptIds[h * p.stride] = best.w; kept.counts[h] = 1u; mass = rest.x;
    }
    let m = f32((counts[h] + splits * WG - 1u) / (splits * WG));
    let ct = cut[h];
    cut[h] = vec4f(ct.x, (ct.y + mass * (1.0 + (m + 48.0) * 1.1920928955078125e-7)) * 1.00000012, 0.0, ct.w);
  }
}`;
}
