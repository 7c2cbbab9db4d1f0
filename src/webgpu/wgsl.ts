/**
 * WGSL sources of the WebGPU decode kernels (docs/webgpu.md); attention itself is attend-kernel.ts.
 * Each generator bakes its shape into constants, so one pipeline serves one (dims, group, storage,
 * weighting) combination.
 *
 * Layouts (all row-major, dims padded with zeros to D / DV, multiples of 16 / 8):
 *   K, V   [kvHeads, cap, D|DV]  f32 (array<vec4f>) or f16 packed two per u32 (array<vec4u>, 8 a vec4u)
 *   Q      [heads, D]            f32 queries
 *   ids    [heads, stride]       sparse plans: each head's keys to attend (select-wgsl.ts), counts [heads]
 *   part   [heads, splits, DV+4] one split's softmax state: m, l, ReLU's keys of positive weight (u32 bits; else 0), 0 (the fused pass: its keys attended, u32), acc[DV]
 * The int8 key codes of the sparse plans: codes-wgsl.ts.
 * Only core WGSL (no shader-f16: the H100's Dawn lacks it; unpack2x16float is core).
 */

/** Threads per workgroup: SwiftShader's limit (maxComputeInvocationsPerWorkgroup = 256). */
export const WG = 256;
/** Below every logit: an "empty" max that exp() turns into 0 without NaN. */
export const NEG = '-3.0e38';

/**
 * The attention passes' uniform, as plan.ts `attendParams` writes it: one declaration for every
 * shader. Dense passes: split s covers keys [s·chunk, (s + 1)·chunk) of n. Gathered passes: `lists`
 * id lists (of stride positions each), cut into `splits` chunks of at least `chunk` keys (GATHER_CHUNK).
 */
export const PARAMS = /* wgsl */ `struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32, stride: u32, lists: u32, pad1: u32, pad2: u32 }`;

/**
 * Gathered passes: the keys one workgroup (slot) takes of the lists laid end to end, `total` keys
 * in all — slot s covers [s·len, (s + 1)·len) — at least p.chunk so a short selection is not
 * spread over workgroups too small to pay their fixed costs. The attention pass and the merge
 * (which reads the slots covering a list) share it.
 */
export const GATHER_CHUNK = /* wgsl */ `fn gatherChunk(total: u32) -> u32 { return max((total + p.splits - 1u) / p.splits, max(p.chunk, 1u)); }`;

/**
 * How the gathered passes cut the lists into slots (plan option gatheredChunks): 'spanning'
 * (GATHER_CHUNK: a chunk may cross from one list into the next, and its workgroup then attends
 * both, begin and end twice) or 'aligned' (GATHER_CHUNK_ALIGNED: each list starts at a slot of its
 * own, so no workgroup attends two lists).
 */
export type GatherChunks = 'spanning' | 'aligned';

/**
 * 'aligned' slots: list l spans listSpan(count_l, len) positions (its count rounded up to whole
 * chunks) and chunks hold ⌈total / (splits − lists)⌉ keys, so Σ ⌈count_l / len⌉ ≤ total / len +
 * lists ≤ splits: the slots cover every list (the plan keeps splits > lists).
 */
export const GATHER_CHUNK_ALIGNED = /* wgsl */ `fn gatherChunk(total: u32) -> u32 { return max((total + p.splits - p.lists - 1u) / (p.splits - p.lists), max(p.chunk, 1u)); }
fn listSpan(cnt: u32, len: u32) -> u32 { return (cnt + len - 1u) / len * len; }`;

export type Storage = 'f32' | 'f16';
export type Weighting = 'softmax' | 'relu';

/**
 * What a decode plan's merge pass writes to its stats buffer, [heads] × (keysScored u32, keysUsed
 * u32, errorBound f32, 0): 'dense' (n, n), 'dense-relu' (n, keys of positive weight), 'relu'
 * (candidates, keys of positive weight), 'certified' (kept, kept, the certified bound), 'rank'
 * (candidates scored exactly, kept, the certified bound: threshold and top-k, select.ts).
 */
export type StatsMode = 'dense' | 'dense-relu' | 'relu' | 'certified' | 'rank';

/**
 * Certified mode's errorBound on the GPU (decoder stats; tv-bound.ts is the float64 twin): δ ≤ U/(W + U)
 * with U the cut's bound on the skipped keys' mass (relative to the anchor) and W bounded from below
 * by the larger of L (the cut's, relative to the anchor) and the kept keys' float32 mass W̃
 * (relative to M) shrunk by its rounding — each logit within scale·(D+2)·2⁻²⁴·‖q‖·max‖k‖ (float32
 * dot), each kept term and merge step within 2⁻²³. Float32 with WGSL's exp/log accuracy (a few ULP,
 * 2⁻²¹ absolute for log near 1): x = ln(W/U) is lowered by more than those errors and δ raised by
 * 2·10⁻⁴, so the bound stays above the true one; the cut's ratio is shrunk by 10⁻³ to keep it ≤ ε.
 */
function certifiedBoundSource(D: number): string {
  return /* wgsl */ `
fn tvBound(w: f32, m: f32, u: f32, m0: f32) -> f32 {
  if (u <= 0.0) { return 0.0; }
  if (w <= 0.0) { return 1.0; }
  let lw = log(w); let lu = log(u); let dm = m - m0;
  let x = (lw - lu) + dm - (1e-4 + 1e-5 * (abs(lw) + abs(lu)) + 1e-6 * abs(dm));
  let d = select(1.0 / (1.0 + exp(x)), exp(-x) / (1.0 + exp(-x)), x > 0.0);
  return clamp(d * 1.0002, 1.2e-38, 1.0);
}
fn certifiedBound(kept: u32, M: f32, Wt: f32, ct: vec4f, qn: f32, kn: f32) -> f32 {
  let U = ct.y; let L = ct.z; let a = ct.w;
  if (U <= 0.0) { return 0.0; }
  let logitErr = p.scale * ${D + 2}.0 * 5.9604644775390625e-8 * qn * kn * 1.001;
  let shrink = max(0.0, 1.0 - f32(kept + 64u) * 1.1920928955078125e-7) * exp(-2.0 * logitErr) * 0.9999;
  let wLow = Wt * shrink;
  let useL = L > 0.0 && (wLow <= 0.0 || log(L) + a > log(wLow) + M);
  return select(tvBound(wLow, M, U, a), tvBound(L, a, U, a), useL);
}`;
}

/**
 * Log-sum-exp merge of the splits' states: out[h] = Σ e^{m_s − M} acc_s / Σ e^{m_s − M} l_s, zeros
 * where no key had weight, and the head's stats (StatsMode). Workgroup (h, y) merges MQ quads of
 * head h; its 256 threads are LANES lanes a quad, each folding a few splits as it reads them (a
 * split's header and quad loaded together, a running max; a serial walk over all the splits per
 * thread took microseconds of dependent loads), then one tree over the lanes combines their (max,
 * sum, quad) triples — one round of loads and one tree: on an H100 (run 13) 0.8–1.2 µs faster a
 * step than a max tree first, then the sums. Dispatch (heads, mergeGroups(DV)). D: the key width (certified: logit rounding).
 * Gathered modes: head h's list is counts[h / LG] (LG heads a list), and its states are in the
 * slots whose chunks cover that list (attend-kernel.ts, GATHER_CHUNK; `slots` 'aligned': GATHER_CHUNK_ALIGNED) — or, `slots` 'blocks' (the
 * fused pass, fused-wgsl.ts), one state a block of keys in slots [0, splits) as dense's, each
 * carrying its counts (attend-kernel.ts end's header: keys of positive weight, keys attended),
 * which the merge sums: no counters live between the passes. ReLU's keys of positive weight: the
 * sum of the states' counts in every mode.
 */
export function mergeSource(DV: number, stats: StatsMode, D: number, LG = 1, slots: 'lists' | 'aligned' | 'blocks' = 'lists'): string {
  const DQ = DV / 4, MQ = mergeQuads(DV), LANES = WG / MQ;
  const gathered = stats === 'relu' || stats === 'certified' || stats === 'rank', relu = stats === 'relu' || stats === 'dense-relu';
  const blocks = gathered && slots === 'blocks', tallied = blocks || relu;
  const bounded = stats === 'certified' || stats === 'rank';
  const row = {
    dense: 'vec4u(p.n, p.n, 0u, 0u)',
    'dense-relu': 'vec4u(p.n, tally[0].x, 0u, 0u)',
    relu: 'vec4u(cnt, tally[0].x, 0u, 0u)',
    certified: 'vec4u(cnt, cnt, bitcast<u32>(certifiedBound(cnt, M, Lt, cut[h], coef[h].w, bitcast<f32>(normMax[0]))), 0u)',
    rank: 'vec4u(scored[h], cnt, bitcast<u32>(certifiedBound(cnt, M, Lt, cut[h], coef[h].w, bitcast<f32>(normMax[0]))), 0u)',
  }[stats];
  return /* wgsl */ `
const WG = ${WG}u; const DQ = ${DQ}u; const MQ = ${MQ}u; const LANES = ${LANES}u; const NEG = ${NEG};
${PARAMS}
@group(0) @binding(0) var<storage, read> part: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> stats: array<vec4u>;
${gathered && !blocks ? '@group(0) @binding(4) var<storage, read> counts: array<u32>;' : ''}
${bounded ? `@group(0) @binding(6) var<storage, read> cut: array<vec4f>;
@group(0) @binding(7) var<storage, read> coef: array<vec4f>;
@group(0) @binding(8) var<storage, read> normMax: array<u32>;
${certifiedBoundSource(D)}` : ''}
${stats === 'rank' ? '@group(0) @binding(9) var<storage, read> scored: array<u32>;' : ''}
${gathered && !blocks ? (slots === 'aligned' ? GATHER_CHUNK_ALIGNED : GATHER_CHUNK) : ''}
var<workgroup> red: array<f32, WG>;
${tallied ? 'var<workgroup> tally: array<vec2u, WG>;' : ''}
var<workgroup> accs: array<vec4f, WG>;
var<workgroup> ls: array<f32, WG>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  ${tallied ? 'var counted = vec2u(0u);' : ''}
  ${blocks ? 'let s0 = 0u; let s1 = p.splits;'
    : gathered && slots === 'aligned' ? `var total = 0u; var at = 0u;
  for (var li = 0u; li < p.lists; li++) { total += counts[li]; }
  let len = gatherChunk(total);
  for (var li = 0u; li < h / ${LG}u; li++) { at += listSpan(counts[li], len); }
  let cnt = counts[h / ${LG}u];
  let s0 = at / len; let s1 = select(s0, (at + cnt - 1u) / len + 1u, cnt > 0u);`
    : gathered ? `var total = 0u; var at = 0u;
  for (var li = 0u; li < p.lists; li++) { let c = counts[li]; if (li < h / ${LG}u) { at += c; } total += c; }
  let cnt = counts[h / ${LG}u]; let len = gatherChunk(total);
  let s0 = at / len; let s1 = select(s0, (at + cnt - 1u) / len + 1u, cnt > 0u);` : 'let s0 = 0u; let s1 = p.splits;'}
  // Each lane folds its splits as it reads them (a running max: a split's header and quad are
  // loaded together), then one tree over the lanes combines (max, sum, quad) triples.
  let c = wid.y * MQ + lid % MQ; let lane = lid / MQ;
  var m = NEG; var x = vec4f(0.0); var L = 0.0;
  for (var s = s0 + lane; s < s1; s += LANES) {
    let base = (h * p.splits + s) * (DQ + 1u);
    let st = part[base]; let a = part[base + 1u + min(c, DQ - 1u)];${tallied ? '\n    counted += bitcast<vec2u>(st.zw);' : ''}
    if (st.y > 0.0) {
      let mn = max(m, st.x); let f = exp(m - mn); let g = exp(st.x - mn);
      x = x * f + a * g; L = L * f + st.y * g; m = mn;
    }
  }
  red[lid] = m; accs[lid] = x; ls[lid] = L;${tallied ? '\n  tally[lid] = counted;' : ''}
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lane < stride) {
      let o = lid + stride * MQ;
      let mn = max(red[lid], red[o]); let f = exp(red[lid] - mn); let g = exp(red[o] - mn);
      accs[lid] = accs[lid] * f + accs[o] * g; ls[lid] = ls[lid] * f + ls[o] * g; red[lid] = mn;${tallied ? ' tally[lid] += tally[o];' : ''}
    }
  }
  workgroupBarrier();${blocks ? '\n  let cnt = tally[0].y;' : ''}
  let M = red[lid % MQ];
  if (lane == 0u && c < DQ) {
    let X = accs[lid]; let Lt = ls[lid];
    out[h * DQ + c] = select(vec4f(0.0), X / Lt, Lt > 0.0);
    if (c == 0u) { stats[h] = ${row}; }
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
