/**
 * WGSL of the sparse decode plans' selection on the GPU (docs/webgpu.md "Kernels"): from the int8
 * codes (codes-wgsl.ts layouts) to one id list per head of the keys to attend, with nothing read
 * back. Passes of one step:
 *   exact ReLU   — scan: every key whose upper bound exceeds the bias joins its head's list.
 *   certified ε  — scan: each key's upper and lower bound bucketed below the head's anchor (1/8 nat
 *                  buckets), kept as a byte a head each; histogram: the bytes counted; cut: the
 *                  smallest bucket c with U(c) ≤ ε/(1−ε)·L(c); compact: keys below c join the list.
 *                  One read of the codes a step; the bounds themselves are never stored.
 * A workgroup serves GH heads of one KV group (the key's codes are read once for all of them).
 */
import { BOUND_FNS } from './codes-wgsl.js';
import { PARAMS, WG } from './wgsl.js';

/** Buckets of 1/8 nat below the anchor (48 nats, as the CPU's depth). */
export const BELOW = 384;
/** Buckets above the anchor (8 nats; keys further above land in bucket 0, always kept). */
export const ABOVE = 64;
/** Histogram buckets per head: bucket b holds bounds x with anchor − x in [(b − ABOVE)/8, (b − ABOVE + 1)/8). */
export const NB = ABOVE + BELOW;
/** Nats above the anchor past which the top-sum cut's lower masses are capped (n·e^60 stays finite in float32). */
const LOW_CAP = 60;
/** The byte a key's upper-bound bucket is kept in saturates here (a cut beyond it keeps every key). */
const BYTE_MAX = 255;

/** Heads one selection workgroup serves: the largest divisor of the group size ≤ 8 (registers, workgroup memory). */
export function headsPerScan(group: number): number {
  let g = Math.min(group, 8);
  while (group % g !== 0) g--;
  return g;
}

/** u32 words a key's bucket bytes take (four heads a word). */
export function bucketWords(GH: number): number {
  return Math.ceil(GH / 4);
}

/** WGSL: `body(h)` for each of the GH heads, h a literal (one block a head: constant indices only). */
function perHead(GH: number, body: (h: string) => string): string {
  return Array.from({ length: GH }, (_, h) => `{ ${body(`${h}u`)} }`).join('\n      ');
}

/**
 * Where a scan reads the query's codes: `word(h, part, i)` is the vec4u of head h0 + h's hi (part
 * 0) or lo (part 1) words for dims 16i .. 16i + 15, and `coef(h)` its vec4f coefficients — the
 * query pass's buffers (qcode, coef) unless a kernel codes the query itself (fused-wgsl.ts).
 */
export interface QueryCodes { word(h: string, part: 0 | 1, i: string): string; coef(h: string): string }

/** The query pass's buffers, indexed by head h0 + h. */
export function storedQueryCodes(D: number): QueryCodes {
  return {
    word: (h, part, i) => `qcode[(h0 + ${h}) * ${D / 8}u + ${part ? `${D / 16}u + ` : ''}${i}]`,
    coef: (h) => `coef[h0 + ${h}]`,
  };
}

/** Where a scan reads key jj's code word i (of `words` a key) and its meta. */
export interface CodeSource { word(i: string, words: number): string; meta: string }
/** The storage buffers (codeBindings). */
export const STORED_CODES: CodeSource = { word: (i, words) => `codes[(kvh * ${words}u + ${i}) * p.stride + jj]`, meta: 'keyMeta[kvh * p.stride + jj]' };

/**
 * The scan's prelude: o[h] = ⟨codes of key jj, q̂ of head h0 + h⟩ for the GH heads (a loop over
 * them, or `unroll`: perHead's blocks — the certified scan as timed on the H100), and mt, the key's
 * meta. Needs the codes' bindings (codes, keyMeta; qcode unless `query` says otherwise), kvh, h0,
 * jj and p.stride in scope; `source`: where the key's words and meta are (e.g. registers a kernel
 * loaded ahead).
 */
export function codeDots(D: number, GH: number, unroll = false, query: QueryCodes = storedQueryCodes(D), source = STORED_CODES): string {
  // Explicitly zeroed: the certified scan declares it inside its loop over blocks, and Dawn on an
  // H100 kept a loop-local var's value from the previous iteration (run 5: garbage bounds from the
  // second block on; attend-kernel.ts met the same).
  return `var o = array<i32, ${GH}>();
    for (var i = 0u; i < ${D / 16}u; i++) {
      let c = ${source.word('i', D / 16)};
      ${unroll ? perHead(GH, (h) => `o[${h}] += codeDot(c, ${query.word(h, 0, 'i')}, ${query.word(h, 1, 'i')});`)
    : `for (var h = 0u; h < ${GH}u; h++) { o[h] += codeDot(c, ${query.word('h', 0, 'i')}, ${query.word('h', 1, 'i')}); }`}
    }
    let mt = ${source.meta};`;
}

/**
 * The bindings of a scan over key codes (codes-wgsl.ts layouts): the codes, their per-key
 * metadata (`meta`: the int8 codes' vec4f, the 4-bit codes' vec2f), the query's codes and the
 * uniform; binding 3 is the scan's own.
 */
function codeBindings(meta: 'vec4f' | 'vec2f'): string {
  return /* wgsl */ `${keyCodeBindings(0, meta)}
@group(0) @binding(2) var<storage, read> qcode: array<vec4u>;
@group(0) @binding(4) var<uniform> p: Params;`;
}

/** The key codes and their per-key metadata (as codeBindings) at bindings at and at + 1. */
export function keyCodeBindings(at: number, meta: 'vec4f' | 'vec2f'): string {
  return /* wgsl */ `
@group(0) @binding(${at}) var<storage, read> codes: array<vec4u>;
@group(0) @binding(${at + 1}) var<storage, read> keyMeta: array<${meta}>;`;
}

/**
 * Exact ReLU's rule, after codeDots: take[h] — key jj (`valid`) may have a score above the bias
 * for head h0 + h (its upper bound exceeds it), h < GH; `query`: where the coefficients are.
 */
export function reluTake(GH: number, query: QueryCodes = storedQueryCodes(0)): string {
  return `var take = array<bool, ${GH}>();
  for (var h = 0u; h < ${GH}u; h++) {
    let cf = ${query.coef('h')};
    let est = boundEst(cf, mt, o[h]);
    take[h] = valid && est + boundWidth(cf, mt, est) > p.bias;
  }`;
}

/**
 * WGSL: appending the keys with take[h] (h < NH) to their id lists ([lists, stride]; counts[list])
 * with one atomic per workgroup and list. Union lists (one list for the NH heads, at `list0`):
 * a key joins when any head takes it; else head h's list is list0 + h. Needs workgroup arrays
 * localCount (atomic) and localBase of NH entries, zero.
 */
function appendIds(union: boolean): string {
  return union
    ? `var hit = array<bool, 1>(); var key = array<u32, 1>(j);
  for (var h = 0u; h < NH; h++) { hit[0] = hit[0] || take[h]; }
  ${appendUnion(1)}`
    : `var pos = array<u32, NH>();
  for (var h = 0u; h < NH; h++) { if (take[h]) { pos[h] = atomicAdd(&localCount[h], 1u); } }
  workgroupBarrier();
  if (lid < NH) { let c = atomicLoad(&localCount[lid]); localBase[lid] = select(0u, atomicAdd(&counts[list0 + lid], c), c > 0u); }
  workgroupBarrier();
  for (var h = 0u; h < NH; h++) { if (take[h]) { ids[(list0 + h) * p.stride + localBase[h] + pos[h]] = j; } }`;
}

/**
 * WGSL: a thread's K keys (key[k]) with hit[k] appended to the union list list0 ([lists, stride]
 * ids, counts[list0]) with one atomic a workgroup. Needs workgroup arrays localCount (atomic) and
 * localBase of one entry, zero.
 */
export function appendUnion(K: number): string {
  return `var pos = array<u32, ${K}>();
  for (var k = 0u; k < ${K}u; k++) { if (hit[k]) { pos[k] = atomicAdd(&localCount[0], 1u); } }
  workgroupBarrier();
  if (lid == 0u) { let c = atomicLoad(&localCount[0]); localBase[0] = select(0u, atomicAdd(&counts[list0], c), c > 0u); }
  workgroupBarrier();
  for (var k = 0u; k < ${K}u; k++) { if (hit[k]) { ids[list0 * p.stride + localBase[0] + pos[k]] = key[k]; } }`;
}

/**
 * Exact ReLU: keys whose upper bound exceeds the bias are appended to the id lists (appendIds:
 * per head, or per scan group of GH heads when `union`). Dispatch (⌈n / WG⌉, kvHeads · group / GH).
 * `candidates`: the keys are those of a first filter's list per scan group (nibble-wgsl.ts; cand
 * [groups, stride], candCounts) instead of [0, n); workgroups past the list's end return at once.
 */
export function reluScanSource(D: number, group: number, GH: number, union: boolean, candidates = false): string {
  return listScanSource({
    group, GH, meta: 'vec4f', union,
    decls: `@group(0) @binding(3) var<storage, read> coef: array<vec4f>;${candidates ? `
@group(0) @binding(7) var<storage, read> cand: array<u32>;
@group(0) @binding(8) var<storage, read> candCounts: array<u32>;
var<workgroup> candN: u32;` : ''}`,
    keys: candidates ? `if (lid == 0u) { candN = candCounts[wid.y]; }
  let cn = workgroupUniformLoad(&candN);
  if (wid.x * WG >= cn) { return; }
  let at = wid.x * WG + lid; let valid = at < cn; let j = cand[wid.y * p.stride + min(at, cn - 1u)]; let jj = j;` : undefined,
    take: `${codeDots(D, GH)}
  ${reluTake(GH)}`,
  });
}

/**
 * WGSL of a scan that lists keys by their code bounds (exact ReLU's scan; the 4-bit first
 * filter's, nibble-wgsl.ts), one thread a key: the constants, codeBindings, the id lists (ids
 * [lists, stride], counts), the scan's own declarations `decls` (binding 3, bindings from 7,
 * constants), appendIds' workgroup counters and main, in which `keys` sets the
 * thread's key j (valid, jj: an index safe to read; default: key wid.x·WG + lid of [0, n)),
 * `take` sets take[h] for the GH heads h0.. of the workgroup's scan group, and appendIds lists the
 * taken keys (`union`: the scan group's one list, else a list a head). Dispatch (⌈keys / WG⌉,
 * kvHeads · group / GH).
 */
export function listScanSource(x: { group: number; GH: number; meta: 'vec4f' | 'vec2f'; union: boolean; decls: string; keys?: string; take: string }): string {
  const { group, GH } = x;
  return /* wgsl */ `
const WG = ${WG}u; const GH = ${GH}u; const HG = ${group / GH}u; const GS = ${group}u;
${PARAMS}
${codeBindings(x.meta)}
@group(0) @binding(5) var<storage, read_write> ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
${x.decls}
var<workgroup> localCount: array<atomic<u32>, GH>;
var<workgroup> localBase: array<u32, GH>;
${BOUND_FNS}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y / HG; let h0 = kvh * GS + (wid.y % HG) * GH;
  ${x.keys ?? 'let j = wid.x * WG + lid; let valid = j < p.n; let jj = min(j, p.n - 1u);'}
  ${x.take}
  const NH = GH; let list0 = ${x.union ? 'wid.y' : 'h0'};
  ${appendIds(x.union)}
}`;
}

/**
 * Where the certified scan gets a key's bounds on its scaled logits: binding declarations (bindings
 * 0–4, the scan's own from 5 on), statements for key jj of KV head kvh (h0, p in scope), and per head
 * h (a literal, 0 ≤ h < GH) statements defining `up` and `lo` — finite: a bound that may be NaN or
 * infinite must come out as ±3e38 (a NaN upper bound as +3e38: the key is kept).
 */
export interface CertifiedBounds { decls: string; key: string; head(h: string): string }

/** The int8 codes' bounds (codes-wgsl.ts BOUND_FNS), the query's codes and coefficients from the query pass. */
export function int8CertifiedBounds(D: number, GH: number): CertifiedBounds {
  return {
    decls: `${codeBindings('vec4f')}
@group(0) @binding(3) var<storage, read> coef: array<vec4f>;
${BOUND_FNS}`,
    key: codeDots(D, GH, true),
    head: (h) => `let cf = coef[h0 + ${h}];
        let est = boundEst(cf, mt, o[${h}]);
        let w = boundWidth(cf, mt, est);
        let up = est + w; let lo = est - w;`,
  };
}

/**
 * Certified ε, pass 1: one thread a key (as the ReLU scan) buckets the key's upper and lower bound
 * for each of the GH heads below the head's anchor — the gaps a − x in float32 (error
 * ≤ 2⁻²⁴·(|a| + |x|)), the upper bound's taken from below (its mass bound e^{−(b − ABOVE)/8} stays
 * above the key's), the lower bound's from above (e^{−(b − ABOVE + 1)/8} stays below) — and writes
 * both buckets as bytes saturated at 255: upBytes and loBytes [kvHeads · group / GH, words, stride].
 * The histogram is the next pass's: counting in this one (a workgroup histogram flushed once, as
 * an earlier build did) made it a few hundred long workgroups, slower on an H100 than this pass and
 * the histogram's together (docs/webgpu.md "Kernels").
 * `topSums` (the 'global-top-sum' cut, whose cut pass takes it as L's byte-0 term): each workgroup
 * also writes, per head, the mass its keys of lower byte 0 have at least relative to the anchor,
 * Σ e^{min(lo − a, LOW_CAP)} (lo − a lowered by its float32 rounding, exp's few-ULP error taken off
 * by 10⁻⁵; not the byte's edge, which caps every key more than 7.875 nats above the anchor at
 * e^{7.875} — where the anchor, the best of 256 sampled keys, lies far below the top keys, that cap
 * undercounted their mass 3–800× on LLM-like keys at 512k), to lowSum [kvHeads · group, nwg.x].
 * `bounds`: where the bounds come from (default: the int8 codes, {@link int8CertifiedBounds}; the
 * projection first filter's: proj-certified.ts).
 * Dispatch (min(⌈n / WG⌉, 65535), kvHeads · group / GH).
 */
export function certifiedScanSource(D: number, group: number, GH: number, topSums = false, bounds: CertifiedBounds = int8CertifiedBounds(D, GH)): string {
  const WPK = bucketWords(GH), quads = Math.ceil(GH / 4);
  return /* wgsl */ `
const WG = ${WG}u; const GH = ${GH}u; const HG = ${group / GH}u; const GS = ${group}u; const NB = ${NB}u; const ABOVE = ${ABOVE}.0;
${PARAMS}
${bounds.decls}
@group(0) @binding(5) var<storage, read> anchor: array<f32>;
@group(0) @binding(6) var<storage, read_write> upBytes: array<u32>;
@group(0) @binding(7) var<storage, read_write> loBytes: array<u32>;
${topSums ? `@group(0) @binding(8) var<storage, read_write> lowSum: array<f32>;
var<workgroup> lred: array<vec4f, WG>;
var<workgroup> topAny: atomic<u32>;
var<workgroup> topAnyNow: u32;` : ''}
fn bucketOf(g: f32) -> u32 { return u32(clamp(floor(g * 8.0) + ABOVE, 0.0, f32(NB - 1u))); }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let kvh = wid.y / HG; let h0 = kvh * GS + (wid.y % HG) * GH;
  var a: array<f32, GH>;
  ${perHead(GH, (h) => `a[${h}] = anchor[h0 + ${h}];`)}
  ${topSums ? `var low = array<f32, ${4 * quads}>();` : ''}
  for (var base = wid.x * WG; base < p.n; base += nwg.x * WG) {
    let j = base + lid;
    if (j < p.n) {
      let jj = j;
      ${bounds.key}
      var upW = array<u32, ${WPK}>(); var loW = array<u32, ${WPK}>(); // explicitly zeroed, as o
      ${perHead(GH, (h) => `${bounds.head(h)}
        let bu = bucketOf((a[${h}] - up) - (abs(a[${h}]) + abs(up)) * 1.1920928955078125e-7);
        let bl = bucketOf((a[${h}] - lo) + (abs(a[${h}]) + abs(lo)) * 1.1920928955078125e-7);
        upW[${h} / 4u] |= min(bu, ${BYTE_MAX}u) << (8u * (${h} % 4u));
        loW[${h} / 4u] |= min(bl, ${BYTE_MAX}u) << (8u * (${h} % 4u));
        ${topSums ? `if (bl == 0u) { low[${h}] += exp(min((lo - a[${h}]) - (abs(a[${h}]) + abs(lo)) * 1.1920928955078125e-7, ${LOW_CAP}.0)) * 0.99999; }` : ''}`)}
      for (var w = 0u; w < ${WPK}u; w++) {
        let at = (wid.y * ${WPK}u + w) * p.stride + j;
        upBytes[at] = upW[w]; loBytes[at] = loW[w];
      }
    }
  }
  ${topSums ? `// Most workgroups hold no key of lower byte 0 (keys far above the anchor are few): they write
  // zeros without the reduction (H100 run 11: the reductions in every workgroup cost the scan ~6 µs at 512k).
  var mine = false;
  for (var h = 0u; h < GH; h++) { mine = mine || low[h] != 0.0; }
  if (mine) { atomicOr(&topAny, 1u); }
  workgroupBarrier();
  if (lid == 0u) { topAnyNow = atomicLoad(&topAny); }
  if (workgroupUniformLoad(&topAnyNow) == 0u) {
    if (lid < GH) { lowSum[(wid.y * GH + lid) * nwg.x + wid.x] = 0.0; }
    return;
  }
  ${Array.from({ length: quads }, (_, k) => `lred[lid] = vec4f(low[${4 * k}], low[${4 * k + 1}], low[${4 * k + 2}], low[${4 * k + 3}]);
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { lred[lid] += lred[lid + s]; }
  }
  workgroupBarrier();
  if (lid < min(4u, GH - ${4 * k}u)) { lowSum[(wid.y * GH + ${4 * k}u + lid) * nwg.x + wid.x] = lred[0][lid]; }
  workgroupBarrier();`).join('\n  ')}` : ''}
}`;
}

/**
 * Certified ε, pass 2: the histogram of pass 1's bytes per head, hist [heads, NB, 2] (upper,
 * lower counts). An upper byte 255 counts in bucket 255 (its edge e^{−(255 − ABOVE)/8} bounds every
 * key at or below it; a cut past 255 keeps every key, compactSource, so U = 0 there), a lower byte
 * 255 in the last bucket (edge 0: such a key adds nothing to L). Workgroups stride over the keys,
 * R keys a thread and step whose words are loaded first, in flight together, then counted into a
 * workgroup histogram (two 16-bit counts a word: a workgroup sees fewer than 65536 keys) that is
 * flushed once.
 * RUNS: when many keys share a bucket (a zero or weak query, duplicate keys, every key far below
 * the anchor in the last bucket) the lanes' atomics on one word serialize; each thread therefore
 * counts its run of equal buckets per head in registers and adds it when the bucket changes, so
 * such a workgroup adds a few runs a thread instead of one atomic per key, and spread buckets cost
 * one comparison more.
 * Dispatch (x, kvHeads · group / GH) with x ≥ ⌈n / 65535⌉.
 */
export function certifiedHistSource(group: number, GH: number): string {
  const WPK = bucketWords(GH), R = 8;
  const keys = Array.from({ length: R }, (_, r) => r), words = Array.from({ length: WPK }, (_, w) => w);
  const word = (x: string, r: number, w: number) => `${x}Bytes[(wid.y * ${WPK}u + ${w}u) * p.stride + j${r}]`;
  return /* wgsl */ `
const WG = ${WG}u; const GH = ${GH}u; const HG = ${group / GH}u; const GS = ${group}u; const NB = ${NB}u;
${PARAMS}
@group(0) @binding(0) var<storage, read> upBytes: array<u32>;
@group(0) @binding(1) var<storage, read> loBytes: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> wgHist: array<atomic<u32>, ${GH * NB}>;
fn addRun(at: u32, count: u32) { if (count != 0u) { atomicAdd(&wgHist[at], count); } }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let h0 = (wid.y / HG) * GS + (wid.y % HG) * GH;
  for (var b = lid; b < GH * NB; b += WG) { atomicStore(&wgHist[b], 0u); }
  workgroupBarrier();
  // Per head, the thread's current run of equal upper (2h) and lower (2h + 1) buckets: its bucket
  // and its count as the histogram word adds it (upper: units, lower: 0x10000 units).
  var runBucket = array<u32, ${2 * GH}>();
  var runCount = array<u32, ${2 * GH}>();
  let step = nwg.x * WG;
  for (var base = wid.x * WG + lid; base < p.n; base += ${R}u * step) {
    ${keys.map((r) => `let j${r} = min(base + ${r}u * step, p.n - 1u);`).join(' ')}
    ${keys.map((r) => words.map((w) => `let u${r}w${w} = ${word('up', r, w)}; let l${r}w${w} = ${word('lo', r, w)};`).join(' ')).join('\n    ')}
    ${keys.map((r) => `if (base + ${r}u * step < p.n) {
      ${perHead(GH, (h) => `let shift = 8u * (${h} % 4u);
        let bu = (u${r}w${Number.parseInt(h) >> 2} >> shift) & 0xffu;
        let lb = (l${r}w${Number.parseInt(h) >> 2} >> shift) & 0xffu; let bl = select(lb, NB - 1u, lb == ${BYTE_MAX}u);
        if (bu == runBucket[2u * ${h}]) { runCount[2u * ${h}] += 1u; }
        else { addRun(${h} * NB + runBucket[2u * ${h}], runCount[2u * ${h}]); runBucket[2u * ${h}] = bu; runCount[2u * ${h}] = 1u; }
        if (bl == runBucket[2u * ${h} + 1u]) { runCount[2u * ${h} + 1u] += 0x10000u; }
        else { addRun(${h} * NB + runBucket[2u * ${h} + 1u], runCount[2u * ${h} + 1u]); runBucket[2u * ${h} + 1u] = bl; runCount[2u * ${h} + 1u] = 0x10000u; }`)}
    }`).join('\n    ')}
  }
  ${Array.from({ length: 2 * GH }, (_, r) => `addRun(${r >> 1}u * NB + runBucket[${r}u], runCount[${r}u]);`).join(' ')}
  workgroupBarrier();
  for (var b = lid; b < GH * NB; b += WG) {
    let c = atomicLoad(&wgHist[b]);
    let at = ((h0 + b / NB) * NB + b % NB) * 2u;
    if ((c & 0xffffu) != 0u) { atomicAdd(&hist[at], c & 0xffffu); }
    if ((c >> 16u) != 0u) { atomicAdd(&hist[at + 1u], c >> 16u); }
  }
}`;
}

/**
 * Certified ε's cut of one head, as WGSL a workgroup runs (uniform control flow: it has barriers):
 * `fn globalCut(h, lid) -> vec4f`, every thread getting (c as u32 bits, U(c), L(c), anchor) — U(c)
 * = Σ_{b ≥ c} up_b·e^{−(b − ABOVE)/8} (edges rounded up: bounds the mass, relative to the anchor, of
 * the keys a cut at c skips) and L(c) = Σ_{b < c} lo_b·e^{−(b − ABOVE + 1)/8} (rounded down: the
 * mass of keys every one of which it keeps, since a key's lower bucket is at or after its upper
 * one), by two scans over the threads (two buckets a thread); the smallest c ≥ 1 with
 * U(c) ≤ ratio·L(c), ratio = ε/(1 − ε) shrunk; c = NB keeps every key (U = 0). The sums are
 * widened by 10⁻⁴ for their float32 rounding.
 * `topSum` (the 'global-top-sum' cut): L's bucket-0 term is the larger of its edge count and the
 * scan's lower masses of those keys (certifiedScanSource topSums: lowSum [heads, scan
 * workgroups], summed here and shrunk by 10⁻³ for their float32 sums) — bucket 0 holds every key
 * more than 7.875 nats above the anchor, whose edge counts each at e^{7.875}.
 * Needs WG, NB, bindings hist, edges, anchor, `ratio` (an expression: the cut's ratio) and, with
 * topSum, lowSum and `n` (an expression: the keys scanned). Called for several heads in turn (the
 * fused certified pass, certified-keep.ts) it reuses its workgroup memory: the uniform load that
 * ends a call is a barrier after every read of it.
 */
export function globalCutFns(x: { topSum: boolean; ratio: string; n: string }): string {
  return /* wgsl */ `
var<workgroup> cutScan: array<vec2f, WG>;
var<workgroup> cutBest: atomic<u32>;
var<workgroup> cutRow: vec4f;
fn globalCut(h: u32, lid: u32) -> vec4f {
  let b0 = 2u * lid; let b1 = b0 + 1u;
  var u = vec2f(0.0); var l = vec2f(0.0);
  if (b0 < NB) { u.x = f32(hist[(h * NB + b0) * 2u]) * edges[b0]; l.x = f32(hist[(h * NB + b0) * 2u + 1u]) * edges[NB + b0]; }${x.topSum ? `
  // The scan's workgroups (certifiedScanSource's dispatch) each left head h one sum.
  let sums = min((${x.n} + WG - 1u) / WG, 65535u);
  var z = 0.0;
  for (var s = lid; s < sums; s += WG) { z += lowSum[h * sums + s]; }
  cutScan[lid] = vec2f(z, 0.0);
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { cutScan[lid].x += cutScan[lid + s].x; }
  }
  workgroupBarrier();
  if (lid == 0u) { l.x = max(l.x, cutScan[0].x * 0.999); }
  workgroupBarrier();` : ''}
  if (b1 < NB) { u.y = f32(hist[(h * NB + b1) * 2u]) * edges[b1]; l.y = f32(hist[(h * NB + b1) * 2u + 1u]) * edges[NB + b1]; }
  if (lid == 0u) { atomicStore(&cutBest, NB); }
  // Inclusive scans over the threads: x = Σ of u over threads ≥ lid, y = Σ of l over threads ≤ lid.
  cutScan[lid] = vec2f(u.x + u.y, l.x + l.y);
  for (var s = 1u; s < WG; s <<= 1u) {
    workgroupBarrier();
    var v = cutScan[lid];
    if (lid + s < WG) { v.x += cutScan[lid + s].x; }
    if (lid >= s) { v.y += cutScan[lid - s].y; }
    workgroupBarrier();
    cutScan[lid] = v;
  }
  workgroupBarrier();
  let sAfter = select(0.0, cutScan[min(lid + 1u, WG - 1u)].x, lid + 1u < WG);
  let lBefore = select(0.0, cutScan[max(lid, 1u) - 1u].y, lid > 0u);
  // U(b0) = sAfter + u.y + u.x, U(b1) = sAfter + u.y; L(b0) = lBefore, L(b1) = lBefore + l.x.
  let U0 = (sAfter + u.y + u.x) * 1.0001; let L0 = lBefore * 0.9999;
  let U1 = (sAfter + u.y) * 1.0001; let L1 = (lBefore + l.x) * 0.9999;
  let ratio = ${x.ratio};
  if (b0 >= 1u && b0 < NB && U0 <= ratio * L0) { atomicMin(&cutBest, b0); }
  if (b1 < NB && U1 <= ratio * L1) { atomicMin(&cutBest, b1); }
  workgroupBarrier();
  let c = atomicLoad(&cutBest);
  if (c == NB && lid == 0u) { cutRow = vec4f(bitcast<f32>(NB), 0.0, cutScan[WG - 1u].y * 0.9999, anchor[h]); }
  if (c == b0) { cutRow = vec4f(bitcast<f32>(c), U0, L0, anchor[h]); }
  if (c == b1) { cutRow = vec4f(bitcast<f32>(c), U1, L1, anchor[h]); }
  return workgroupUniformLoad(&cutRow);
}`;
}

/** The cut's uniform: ratio = ε/(1 − ε) shrunk (selection.ts). */
export const CUT_PARAMS = /* wgsl */ 'struct CutParams { ratio: f32, pad0: u32, pad1: u32, pad2: u32 }';

/**
 * Certified ε, pass 3, one workgroup per head: the head's cut (globalCutFns) to cut[h].
 */
export function cutSource(topSum = false): string {
  return /* wgsl */ `
const WG = ${WG}u; const NB = ${NB}u;
${CUT_PARAMS}
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read> edges: array<f32>;
@group(0) @binding(2) var<storage, read> anchor: array<f32>;
@group(0) @binding(3) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(4) var<uniform> cp: CutParams;
${topSum ? `${PARAMS}
@group(0) @binding(5) var<storage, read> lowSum: array<f32>;
@group(0) @binding(6) var<uniform> sp: Params;` : ''}
${globalCutFns({ topSum, ratio: 'cp.ratio', n: 'sp.n' })}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let row = globalCut(wid.x, lid);
  if (lid == 0u) { cut[wid.x] = row; }
}`;
}

/**
 * Certified ε, pass 4: every key whose upper bucket is below its head's cut joins the id lists
 * (appendIds: per head, or per scan group when `union` — a key any of the group's heads keeps; a
 * saturated byte keeps the key when the cut is beyond it). One thread per key and bucket word, or
 * per K keys (union: plan option certifiedCompactKeys — their bytes loaded first, one append for
 * them all: a K-th of the workgroups, each with one atomic on the list's count). Dispatch
 * (⌈n / (K·WG)⌉, kvHeads · group / GH · (union ? 1 : words)).
 */
export function compactSource(group: number, GH: number, union: boolean, K = 1): string {
  const WPK = bucketWords(GH);
  return /* wgsl */ `
const WG = ${WG}u; const GH = ${GH}u; const HG = ${group / GH}u; const GS = ${group}u; const WPK = ${WPK}u;
const NH = ${union ? 'GH' : '4u'};
${PARAMS}
@group(0) @binding(0) var<storage, read> upBytes: array<u32>;
@group(0) @binding(1) var<storage, read> cut: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> localCount: array<atomic<u32>, NH>;
var<workgroup> localBase: array<u32, NH>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  ${union
    ? `let grp = wid.y; let list0 = grp;
  let h0 = (grp / HG) * GS + (grp % HG) * GH;
  // The K keys' words loaded first (in flight together), then one append for them all.
  var key = array<u32, ${K}>(); var words = array<u32, ${K * bucketWords(GH)}>(); var hit = array<bool, ${K}>();
  for (var k = 0u; k < ${K}u; k++) {
    key[k] = (wid.x * ${K}u + k) * WG + lid; let jj = min(key[k], p.n - 1u);
    for (var w = 0u; w < WPK; w++) { words[k * WPK + w] = upBytes[(grp * WPK + w) * p.stride + jj]; }
  }
  for (var k = 0u; k < ${K}u; k++) {
    for (var h = 0u; h < GH; h++) {
      let c = bitcast<u32>(cut[h0 + h].x);
      let b = (words[k * WPK + h / 4u] >> (8u * (h % 4u))) & 0xffu;
      hit[k] = hit[k] || (key[k] < p.n && (c > ${BYTE_MAX}u || b < c));
    }
  }
  ${appendUnion(K)}`
    : `let j = wid.x * WG + lid; let jj = min(j, p.n - 1u);
  var take = array<bool, NH>();
  let grp = wid.y / WPK; let w = wid.y % WPK;
  let h0 = (grp / HG) * GS + (grp % HG) * GH + 4u * w; let nh = min(4u, GH - 4u * w); let list0 = h0;
  let word = upBytes[wid.y * p.stride + jj];
  for (var h = 0u; h < nh; h++) {
    let c = bitcast<u32>(cut[h0 + h].x);
    let b = (word >> (8u * h)) & 0xffu;
    take[h] = j < p.n && (c > ${BYTE_MAX}u || b < c);
  }
  ${appendIds(false)}`}
}`;
}
