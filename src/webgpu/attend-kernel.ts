/**
 * The split-KV attention kernel (Flash-Decoding) of the WebGPU backend: dense rows of a KV head
 * (decode plans) and gathered id lists (sparse modes). Decode attention is bound by memory traffic,
 * so the kernel is laid out to stream K and V once, in wide coalesced loads, with no barrier in its
 * key loop:
 * - a team of T lanes (T threads of one subgroup) shares each key: lane i holds 8·KU consecutive
 *   dims of the K row and 8·VU of the V row (16-byte words of f16 pairs, or two f32 quads), so a
 *   team reads a row in one contiguous sweep and the workgroup's NT = AWG/T teams read NT adjacent
 *   rows at once;
 * - partial dot products meet by a butterfly of subgroup shuffles (every lane ends with the same,
 *   bitwise equal, score), for all G query heads of the KV group that the workgroup serves;
 * - every team keeps its own online softmax (max, sum, accumulator per head) over the keys it sees,
 *   B keys per step (independent loads in flight, one rescale per step), with no communication;
 * - at the end the teams fold their states through workgroup memory (a few barriers, once), and
 *   one partial state per head goes out for the log-sum-exp merge (wgsl.ts mergeSource).
 * Gathered id lists (sparse modes): list l serves the G heads l·G.. of one KV group (a union list
 * for G > 1: each K/V row is read once for the G heads). The lists are cut into equal chunks of at
 * least p.chunk keys, one a workgroup, so a long list does not leave the workgroups of short ones
 * idle (run 5: one head's list can be 500× another's): each list's chunks its own (wgsl.ts
 * GATHER_CHUNK_ALIGNED, the plan's default) or the lists laid end to end (GATHER_CHUNK: a chunk
 * crossing lists is attended list by list). Each team loads the ids of its next step while it
 * scores the current one, so an id's load is not waited for before its row's.
 * Without the `subgroups` feature T = 1: one thread scores a whole row (correct, not fast).
 */
import { GATHER_CHUNK, GATHER_CHUNK_ALIGNED, NEG, PARAMS, WG, type GatherChunks, type Storage, type Weighting } from './wgsl.js';

/** Threads of an attention workgroup (the other kernels' size; SwiftShader allows no more). */
const AWG = WG;

export interface AttendShape {
  D: number; DV: number;
  /** Query heads one workgroup serves (dense: a divisor of the group size; gathered: the heads of one list). */
  G: number;
  storage: Storage;
  weighting: Weighting;
  alpha: number;
  /** Keys come from a per-head id list (sparse modes) instead of a contiguous range. */
  gather: boolean;
  /**
   * Where position j of KV head g lives: 'contiguous' — row g·cap + j of [kvHeads, cap, dim];
   * paged — pages[j / pageSize] names a page of the pool [pages, kvHeads, pageSize, dim].
   */
  layout?: 'contiguous' | { pageSize: number; kvHeads: number };
  /** Lanes per key ({@link lanesFor}). */
  T: number;
  /** A lean state ({@link LEAN_STEP_KEYS}; its queries' workgroup memory, {@link leanBytes}, counted in fitsHeads' reserve). */
  lean?: boolean;
  /** ReLU's count of the keys of positive weight ({@link UsedCount}; default 'lanes'). */
  usedCount?: UsedCount;
  /**
   * Keys a team takes per step of the key loop (default {@link STEP_KEYS}, a lean state
   * {@link LEAN_STEP_KEYS}): more rows' loads in flight a step and fewer serial steps, against more
   * registers a thread (the gathered pass', plan option gatheredStepKeys).
   */
  stepKeys?: number;
  /** How a step's K/V rows are loaded ({@link RowLoads}; default 'interleaved'). */
  loads?: RowLoads;
  /** Gathered: how the lists are cut into the workgroups' chunks (wgsl.ts GatherChunks; default 'spanning'). */
  chunks?: GatherChunks;
  /**
   * The teams' fold starts with each pair of teams (2t, 2t + 1: one subgroup) folded by subgroup
   * shuffles, so the rounds through workgroup memory fold half as many states (fewer barriers).
   * Needs subgroups of at least 2·T lanes (the caller checks). Tuning: plan option densePairFold.
   */
  pairFold?: boolean;
}

/**
 * How a team's step loads its keys' rows: 'interleaved' — key by key, each K slice scored as it
 * arrives, then its V slice; 'batched' — every K and V word of the step's keys loaded first into
 * registers as stored (a V slice of f16 in half the registers of its f32 unpacking), then scored and
 * unpacked: all of a step's rows in flight at once whatever the compiler schedules (the gathered
 * pass, plan option gatheredLoads, where a workgroup is a few steps and each waits on its rows).
 * Loading a step's rows a step ahead (twice the row registers) was slower on the H100 in both the
 * dense and the gathered pass (runs 15–16) and is not offered.
 */
export type RowLoads = 'interleaved' | 'batched';

/**
 * Where ReLU counts the keys of positive weight (stats keysUsed): 'lanes' — a count a lane and
 * head in registers through the key loop, added to the workgroup's at the end; 'workgroup' — lane 0
 * of a team adds each such key to the workgroup's atomic count at once, so the key loop holds no
 * count (G registers a lane fewer; begin then holds a barrier: uniform control flow). Both exact.
 */
export type UsedCount = 'lanes' | 'workgroup';


/** Keys each team takes per step of the key loop (a lean state takes LEAN_STEP_KEYS). */
const STEP_KEYS = 4;
/** Workgroup memory of one kernel (WebGPU's default limit is 16 KiB). */
const WG_BYTES = 16384;

/**
 * Lanes per key: the largest power of two T ≤ 16 that divides D/8 and DV/8 (a lane reads whole
 * 16-byte words) and fits in a subgroup (`subgroupSize` 0: no subgroups, T = 1).
 */
export function lanesFor(D: number, DV: number, subgroupSize: number): number {
  let T = 1;
  while (2 * T <= Math.min(16, subgroupSize) && (D / 8) % (2 * T) === 0 && (DV / 8) % (2 * T) === 0) T *= 2;
  return T;
}

/** Keys one workgroup step covers (a split's chunk is a multiple of it). */
export function keysPerStep(T: number): number {
  return (AWG / T) * STEP_KEYS;
}

/** Vec4 slots of workgroup memory left for folding the teams' states after the team maxima and `reserve` bytes of the caller's. */
function foldSlots(G: number, T: number, reserve: number): number {
  return Math.floor((WG_BYTES - 64 - 4 * (AWG / T) * G - reserve) / 16);
}

/**
 * Whether a workgroup can serve G heads of value width DV (its fold buffer holds one team's
 * states) beside `reserve` bytes of other workgroup memory (the fused pass's key list).
 */
export function fitsHeads(G: number, DV: number, T: number, reserve = 0): boolean {
  return G * (DV / 4 + 1) <= foldSlots(G, T, reserve);
}

/**
 * The WGSL of one workgroup's attention, in the pieces a kernel arranges: this file's split-KV
 * kernel (dense rows, gathered id lists) and the fused exact pass (fused-wgsl.ts), which attends
 * the keys its own scan listed in workgroup memory.
 */
export interface AttendPieces {
  /**
   * Module scope: constants, Params, bindings 0–4 (K, V, Q, part, p), then `middle` (the kernel's
   * own bindings), the page table (9), workgroup memory and helpers.
   */
  declarations(middle: string): string;
  /**
   * Statements, once a workgroup before its keys: heads head0 .. head0 + G − 1's query slices of
   * this lane (scale folded in) and their online state, zeroed. Needs lid, lane, team, head0.
   */
  begin: string;
  /**
   * Statements attending positions [r.x, r.y) (`r`: a vec2u in scope) of KV head kvh, continuing
   * the state: dense rows, the position is the key; else `keyAt(i)` is position i's key (loaded a
   * step ahead; `prefetched`: by {@link prefetch}, already). No barrier inside: any control flow may repeat it.
   */
  keys(keyAt?: (i: string) => string, prefetched?: boolean): string;
  /**
   * Statements loading the first step's keys of [r.x, r.y) (`keyAt` as keys'), for a kernel that issues them before begin's query loads so neither waits
   * on the other (then keys(keyAt, true)).
   */
  prefetch(keyAt?: (i: string) => string): string;
  /**
   * Statements, once, in uniform control flow (barriers): the teams' states folded, each head's
   * state written to its slot `split` of part as (m, l, keys of positive weight (ReLU; else 0),
   * `header` (default 0)), the last two as u32 bits, which the merge sums (wgsl.ts mergeSource):
   * no counter buffer lives between the passes, nothing is cleared between steps.
   */
  end(header?: string): string;
}

/**
 * A lean attention state (AttendShape.lean): the G heads' query slices live in workgroup memory
 * ({@link leanBytes}, read at each key) instead of registers, and a team takes 2 keys a step
 * instead of 4 (half the scores and value slices in flight) — fewer registers a thread, so more
 * workgroups may be resident: for a kernel that holds the state through other work (the fused
 * pass's scan) or whose workgroups are short (the gathered pass over short lists).
 */
export const LEAN_STEP_KEYS = 2;

/** Workgroup memory of a lean state's query slices (the caller counts it in `reserve`). */
export function leanBytes(G: number, D: number): number {
  return 4 * G * D;
}

/**
 * The pieces of {@link AttendPieces} for shape x; `reserve`: as fitsHeads (a lean state's begin
 * holds a barrier: uniform control flow).
 */
export function attendPieces(x: Omit<AttendShape, 'gather'>, reserve = 0): AttendPieces {
  const { D, DV, G, T, storage, weighting, alpha, layout = 'contiguous', lean = false, usedCount = 'lanes', loads = 'interleaved', pairFold = false } = x;
  if (pairFold && T === 1) throw new Error('attendSource: pairFold needs subgroups (T > 1)');
  if (!fitsHeads(G, DV, T, reserve)) throw new Error(`attendSource: ${G} heads of width ${DV} exceed workgroup memory`);
  const B = x.stepKeys ?? (lean ? LEAN_STEP_KEYS : STEP_KEYS);
  const NT = AWG / T, KU = D / (8 * T), VU = DV / (8 * T), DQ = DV / 4;
  const C = Math.max(1, Math.min(NT / 2, Math.floor(foldSlots(G, T, reserve) / (G * (DQ + 1))))); // teams folded per round
  const softmax = weighting === 'softmax';
  const laneCounts = !softmax && usedCount === 'lanes';
  const f16 = storage === 'f16';
  // Unit u of a row (8 dims): the words of array src at unit index `word` (one vec4u of f16 pairs
  // or two vec4f) as two f32 quads a0, a1; copied as stored ('batched' loads).
  const unitOf = (src: string, word: string) => (f16
    ? `let w = ${src}[${word}]; let a0 = vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); let a1 = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));`
    : `let e = 2u * (${word}); let a0 = ${src}[e]; let a1 = ${src}[e + 1u];`);
  const copyUnit = (dst: string, at: string, src: string, word: string) => (f16 ? `${dst}[${at}] = ${src}[${word}];`
    : `${dst}[2u * (${at})] = ${src}[2u * (${word})]; ${dst}[2u * (${at}) + 1u] = ${src}[2u * (${word}) + 1u];`);
  const rowWord = (buf: 'K' | 'V') => `row * ${(buf === 'K' ? D : DV) / 8}u + lane * ${buf}U + u`;
  const unit = (buf: 'K' | 'V') => unitOf(buf, rowWord(buf));
  const batched = loads === 'batched', held = loads !== 'interleaved';
  const power = (e: string) => (alpha === 1 ? e : Array.from({ length: alpha }, () => e).join(' * '));
  // The B keys' weights summed (written out: no loop-carried sum; their value slices: accumulateWith).
  const wSum = Array.from({ length: B }, (_, b) => `w[${b}]`).join(' + ');
  // The key loop's per-head update. ReLU: written out once per head with h a constant — a loop
  // over h indexed the per-head used-key counts dynamically, which cost dense ReLU 29 % on the H100
  // (run 7 at 512k: 0.298 → 0.244 ms; sparse ReLU's gathered pass 3–20 % less too). Softmax keeps
  // the loop: written out, its gathered pass over union lists was 28 % slower (29 → 37 µs, run 7).
  const perHead = (body: string) => (softmax ? `for (var h = 0u; h < G; h++) {\n        ${body}\n      }`
    : Array.from({ length: G }, (_, h) => `{ const h = ${h}u;\n        ${body}\n      }`).join('\n      '));
  // The per-head accumulation of the step's weighted value slices, written out as wSum.
  const accumulateWith = (corr: string, weight: (b: number) => string) => `for (var i = 0u; i < 2u * VU; i++) {
          acc[h * 2u * VU + i] = acc[h * 2u * VU + i] * ${corr} + ${Array.from({ length: B }, (_, b) => `${weight(b)} * v[${2 * b}u * VU + i]`).join(' + ')};
        }`;
  const accumulate = accumulateWith('corr', (b) => `w[${b}]`);
  const butterfly = Array.from({ length: Math.log2(T) }, (_, i) => `s[j] += subgroupShuffleXor(s[j], ${T >> (i + 1)}u);`).join(' ');
  // Quad i of this lane's slice of head h's query.
  const qAt = (i: string) => (lean ? `qs[h * ${D / 4}u + lane * 2u * KU + ${i}]` : `q[h * 2u * KU + ${i}]`);
  const begin = `${softmax ? '' : `if (lid == 0u) { for (var h = 0u; h < G; h++) { atomicStore(&usedHere[h], 0u); } }
    ${laneCounts ? 'var usedLane = array<u32, G>();' : 'workgroupBarrier(); // zeroed before any key adds to it'}`}
    ${lean ? `// The G heads' queries (scale folded in), in workgroup memory.
    for (var i = lid; i < ${G * D / 4}u; i += ${AWG}u) { qs[i] = p.scale * Q[head0 * ${D / 4}u + i]; }
    workgroupBarrier();` : `// This lane's slice of every head's query (scale folded in).
    var q: array<vec4f, ${G * 2 * KU}>;
    for (var h = 0u; h < G; h++) {
      for (var i = 0u; i < 2u * KU; i++) { q[h * 2u * KU + i] = p.scale * Q[(head0 + h) * ${D / 4}u + lane * 2u * KU + i]; }
    }`}
    var m: array<f32, G>;
    var l: array<f32, G>;
    var acc: array<vec4f, ${G * 2 * VU}>;
    for (var h = 0u; h < G; h++) { m[h] = ${softmax ? 'NEG' : '0.0'}; l[h] = 0.0; }
    for (var i = 0u; i < ${G * 2 * VU}u; i++) { acc[i] = vec4f(0.0); }`;
  const nextKeys = (keyAt: (i: string) => string) => `
    var next = array<u32, B>(); // the team's ids of the next step, loaded a step ahead
    for (var b = 0u; b < B; b++) { next[b] = ${keyAt('min(r.x + b * NT + team, r.y - 1u)')}; }`;
  // A step's scores and value slices from its rows: key b's row is `row` (interleaved: loaded
  // here), else its words are held in registers: kw/vw ('batched').
  const scoreKey = `for (var u = 0u; u < KU; u++) {
          ${held ? unitOf('kw', 'b * KU + u') : unit('K')}
          for (var h = 0u; h < G; h++) { s[h * B + b] += dot(a0, ${qAt('2u * u')}) + dot(a1, ${qAt('2u * u + 1u')}); }
        }${`
        for (var u = 0u; u < VU; u++) {
          ${held ? unitOf('vw', 'b * VU + u') : unit('V')}
          v[b * 2u * VU + 2u * u] = a0; v[b * 2u * VU + 2u * u + 1u] = a1;
        }`}`;
  const word = f16 ? 'vec4u' : 'vec4f', wordsPerUnit = f16 ? 1 : 2;
  const rowWords = (indent: string) => `var kw: array<${word}, ${B * KU * wordsPerUnit}>;
${indent}var vw: array<${word}, ${B * VU * wordsPerUnit}>;`;
  // The words of the B keys (key b: keyOf) into kw/vw, as stored.
  const loadRows = (keyOf: string) => `for (var b = 0u; b < B; b++) {
        {
          let row = rowOf(kvh, ${keyOf});
          for (var u = 0u; u < KU; u++) { ${copyUnit('kw', 'b * KU + u', 'K', rowWord('K'))} }
          for (var u = 0u; u < VU; u++) { ${copyUnit('vw', 'b * VU + u', 'V', rowWord('V'))} }
        }
      }`;
  // What keys() loads before its loop: the first step's ids.
  const prefetch = (keyAt?: (i: string) => string) => (keyAt ? nextKeys(keyAt) : '');
  const keys = (keyAt?: (i: string) => string, prefetched = false) => `${prefetched ? '' : prefetch(keyAt)}
    for (var base = r.x; base < r.y; base += NT * B) {
      // B keys of this team: scores (partial over the lane's dims) and value slices, loads first.
      var s = array<f32, ${G * B}>(); // explicitly zeroed: Dawn once kept a loop-local var's old value
      var v: array<vec4f, ${B * 2 * VU}>;
      var ok: array<bool, B>;
      ${keyAt ? `let keys = next;
      for (var b = 0u; b < B; b++) { next[b] = ${keyAt('min(base + NT * B + b * NT + team, r.y - 1u)')}; }` : ''}
      ${batched ? `${rowWords('      ')} // the step's words, loaded before any is used
      ${loadRows(keyAt ? 'keys[b]' : 'min(base + b * NT + team, r.y - 1u)')}
      ` : ''}for (var b = 0u; b < B; b++) {
        let pos = base + b * NT + team;
        ok[b] = pos < r.y;${held ? '' : `
        let key = ${keyAt ? 'keys[b]' : 'min(pos, r.y - 1u)'};
        let row = rowOf(kvh, key);`}
        ${scoreKey}
      }
      ${T > 1 ? `for (var j = 0u; j < ${G * B}u; j++) { ${butterfly} }` : ''}
      ${perHead(`${softmax ? `var mx = m[h];
        for (var b = 0u; b < B; b++) { if (ok[b]) { mx = max(mx, s[h * B + b]); } }
        let corr = exp(m[h] - mx);
        m[h] = mx;
        var w: array<f32, B>;
        for (var b = 0u; b < B; b++) { w[b] = select(0.0, exp(s[h * B + b] - mx), ok[b]); }
        l[h] = l[h] * corr + ${wSum};
        ${accumulate}` : `// ReLU^α in scaled form: m[h] holds the largest t = ReLU(score − bias) so far and the
        // weights are (t / m)^α ≤ 1, so t^α never leaves float32's range (α = 300, t = 100); the
        // state written out carries α·ln m, which the log-sum-exp merge treats as softmax's max.
        var t: array<f32, B>;
        var mx = m[h];
        for (var b = 0u; b < B; b++) {
          t[b] = select(0.0, max(s[h * B + b] - p.bias, 0.0), ok[b]);
          mx = max(mx, t[b]);
          ${laneCounts ? 'if (t[b] > 0.0) { usedLane[h] += 1u; }' : 'if (t[b] > 0.0 && lane == 0u) { atomicAdd(&usedHere[h], 1u); }'}
        }
        let inv = select(0.0, 1.0 / mx, mx > 0.0);
        let corr = select(1.0, pw(m[h] * inv), mx > 0.0);
        m[h] = mx;
        var w: array<f32, B>;
        for (var b = 0u; b < B; b++) { w[b] = pw(t[b] * inv); }
        l[h] = l[h] * corr + ${wSum};
        ${accumulate}`}`)}
    }`;
  // The factor taking a state of max x to the max M (ReLU: largest t).
  const rescale = (x: string, M: string) => (softmax ? `exp(${x} - ${M})` : `select(1.0, pw(${x} / ${M}), ${M} > 0.0)`);
  // Pair fold: the units folded through workgroup memory are team pairs `ut` (the even team holds it).
  const ut = pairFold ? 'ut' : 'team', held2 = pairFold ? 'paired && ' : '';
  const end = (header?: string) => `${pairFold ? `
    // Teams 2t and 2t + 1 (one subgroup) fold by shuffles first: both then hold the pair's state.
    for (var h = 0u; h < G; h++) {
      let mo = subgroupShuffleXor(m[h], T);
      let M2 = max(m[h], mo);
      let f = ${rescale('m[h]', 'M2')}; let g = ${rescale('mo', 'M2')};
      l[h] = l[h] * f + subgroupShuffleXor(l[h], T) * g;
      for (var i = 0u; i < 2u * VU; i++) { acc[h * 2u * VU + i] = acc[h * 2u * VU + i] * f + subgroupShuffleXor(acc[h * 2u * VU + i], T) * g; }
      m[h] = M2;
    }
    let ut = team / 2u; let paired = team % 2u == 0u;` : ''}
    // Fold the teams: a common max per head (ReLU: the largest t), then halving rounds through
    // workgroup memory.
    if (${held2}lane == 0u) { for (var h = 0u; h < G; h++) { teamMax[${ut} * G + h] = m[h]; } }
    workgroupBarrier();
    for (var h = 0u; h < G; h++) {
      var M = ${softmax ? 'NEG' : '0.0'};
      for (var t = 0u; t < ${pairFold ? 'NT / 2u' : 'NT'}; t++) { M = max(M, teamMax[t * G + h]); }
      let f = ${rescale('m[h]', 'M')};
      m[h] = M; l[h] *= f;
      for (var i = 0u; i < 2u * VU; i++) { acc[h * 2u * VU + i] *= f; }
    }
    for (var half = ${pairFold ? 'NT / 4u' : 'NT / 2u'}; half > 0u; half >>= 1u) {
      for (var c0 = 0u; c0 < half; c0 += C) {
        let width = min(C, half - c0);
        if (${held2}${ut} >= half + c0 && ${ut} < half + c0 + width) {
          let slot = (${ut} - half - c0) * G;
          for (var h = 0u; h < G; h++) {
            for (var i = 0u; i < 2u * VU; i++) { fold[(slot + h) * (DQ + 1u) + 1u + lane * 2u * VU + i] = acc[h * 2u * VU + i]; }
            if (lane == 0u) { fold[(slot + h) * (DQ + 1u)] = vec4f(l[h], 0.0, 0.0, 0.0); }
          }
        }
        workgroupBarrier();
        if (${held2}${ut} >= c0 && ${ut} < c0 + width) {
          let slot = (${ut} - c0) * G;
          for (var h = 0u; h < G; h++) {
            for (var i = 0u; i < 2u * VU; i++) { acc[h * 2u * VU + i] += fold[(slot + h) * (DQ + 1u) + 1u + lane * 2u * VU + i]; }
            l[h] += fold[(slot + h) * (DQ + 1u)].x;
          }
        }
        workgroupBarrier();
      }
    }
    ${laneCounts ? `if (lane == 0u) { for (var h = 0u; h < G; h++) { if (usedLane[h] > 0u) { atomicAdd(&usedHere[h], usedLane[h]); } } }
    workgroupBarrier();` : ''}
    if (team == 0u) {
      for (var h = 0u; h < G; h++) {
        let slotAt = ((head0 + h) * p.splits + split) * (DQ + 1u);
        for (var i = 0u; i < 2u * VU; i++) { part[slotAt + 1u + lane * 2u * VU + i] = acc[h * 2u * VU + i]; }
        if (lane == 0u) { part[slotAt] = vec4f(${softmax ? 'm[h]' : `select(NEG, ${alpha}.0 * log(m[h]), m[h] > 0.0)`}, l[h], ${softmax && header === undefined ? '0.0, 0.0'
          : `bitcast<f32>(${softmax ? '0u' : 'atomicLoad(&usedHere[h])'}), bitcast<f32>(${header ?? '0u'})`}); }
      }
    }
`;
  const declarations = (middle: string) => /* wgsl */ `${T > 1 ? 'enable subgroups;' : ''}
const T = ${T}u; const NT = ${NT}u; const B = ${B}u; const G = ${G}u;
const KU = ${KU}u; const VU = ${VU}u; const DQ = ${DQ}u; const C = ${C}u; const NEG = ${NEG};
${PARAMS}
@group(0) @binding(0) var<storage, read> K: array<${f16 ? 'vec4u' : 'vec4f'}>;
@group(0) @binding(1) var<storage, read> V: array<${f16 ? 'vec4u' : 'vec4f'}>;
@group(0) @binding(2) var<storage, read> Q: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
${middle}
${typeof layout === 'object' ? '@group(0) @binding(9) var<storage, read> pages: array<u32>;' : ''}
${softmax ? '' : 'var<workgroup> usedHere: array<atomic<u32>, G>;'}
${lean ? `var<workgroup> qs: array<vec4f, ${G * D / 4}>;
` : ''}var<workgroup> teamMax: array<f32, ${NT * G}>;
var<workgroup> fold: array<vec4f, ${C * G * (DQ + 1)}>;
fn rowOf(kvh: u32, key: u32) -> u32 { return ${typeof layout === 'object'
    ? `(pages[key / ${layout.pageSize}u] * ${layout.kvHeads}u + kvh) * ${layout.pageSize}u + key % ${layout.pageSize}u`
    : 'kvh * p.cap + key'}; }
${softmax ? '' : `fn pw(x: f32) -> f32 { return ${power('x')}; }`}`;
  return { declarations, begin, keys, prefetch, end };
}

export function attendSource(x: AttendShape): string {
  const { gather } = x;
  const a = attendPieces(x, x.lean ? leanBytes(x.G, x.D) : 0);
  // One segment of keys [r.x, r.y) (gathered: positions of the list at `list`) for heads head0..head0 + G − 1;
  // batched loads take the first step's ids before the query loads (neither waits on the other).
  const keyAt = gather ? (i: string) => `ids[list + ${i}]` : undefined;
  const first = keyAt !== undefined && (x.loads ?? 'interleaved') !== 'interleaved';
  const segment = `${first ? `${a.prefetch(keyAt)}\n    ` : ''}${a.begin}${a.keys(keyAt, first)}${a.end()}`;
  const aligned = x.chunks === 'aligned';
  return /* wgsl */ `${a.declarations(gather ? `@group(0) @binding(5) var<storage, read> ids: array<u32>;
@group(0) @binding(6) var<storage, read> counts: array<u32>;
${aligned ? GATHER_CHUNK_ALIGNED : GATHER_CHUNK}` : '')}

@compute @workgroup_size(${AWG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let split = wid.x;
  let lane = lid % T; let team = lid / T;
  ${gather
    ? `// This workgroup's chunk of the lists laid end to end (wgsl.ts GATHER_CHUNK, as the merge).
  var total = 0u;
  for (var li = 0u; li < p.lists; li++) { total += counts[li]; }
  let len = gatherChunk(total);
  ${aligned ? 'let start = split * len; let end = start + len;' : 'let start = min(split * len, total); let end = min(start + len, total);'}
  var first = 0u;
  for (var li = 0u; li < p.lists; li++) {
    let cnt = counts[li]; let at = first; first += ${aligned ? 'listSpan(cnt, len)' : 'cnt'};
    if (max(start, at) >= min(end, at + cnt)) { continue; }
    let head0 = li * G; let kvh = head0 / p.groupSize; let list = li * p.stride;
    let r = vec2u(max(start, at) - at, min(end, at + cnt) - at);
    ${segment}
  }`
    : `let kvh = wid.y / p.sub; let head0 = kvh * p.groupSize + (wid.y % p.sub) * G;
  let r = vec2u(min(split * p.chunk, p.n), min(split * p.chunk + p.chunk, p.n));
  ${segment}`}
}`;
}
