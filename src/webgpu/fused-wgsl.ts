/**
 * WGSL of the fused sparse decode pass (docs/webgpu.md "Kernels"): one workgroup a block of
 * contiguous keys and the G heads of one KV group it serves scans the block's int8 codes (the
 * selection scan's bound: select-wgsl.ts codeDots, codes-wgsl.ts BOUND_FNS), lists the keys a
 * keep rule takes in workgroup memory, and attends them right away (attend-kernel.ts's pieces: teams
 * of lanes, each K/V row read once for the G heads), continuing one online state; at the end one
 * partial state a head and block goes to the log-sum-exp merge (wgsl.ts mergeSource, slots
 * 'blocks'). Nothing goes through global memory between selection and attention: no id list, no
 * compaction, no dispatch waiting on another, and a block without a kept key costs its codes only.
 *
 * The list holds LIST_CAP keys; the block is scanned WG keys at a time, and the list is attended
 * whenever the next WG keys could overflow it, and at the block's end — a block of any number of
 * kept keys is attended exactly, in as many rounds as it needs. The list wraps around (positions
 * modulo LIST_CAP): keys listed after an attended round go to the slots after the last ones.
 *
 * The keep rule is pluggable ({@link KeepRule}): exact ReLU's (a key whose certified upper bound
 * exceeds the bias for some head) here; another rule (e.g. a certified per-block cut) brings its own
 * bindings, workgroup memory, a prelude run before the scan and its per-key decision.
 */
import { attendPieces, leanBytes, type AttendShape, type UsedCount } from './attend-kernel.js';
import { BOUND_FNS, QUERY_CODE_FNS } from './codes-wgsl.js';
import { codeDots, keyCodeBindings, reluTake, type CodeSource, type QueryCodes } from './select-wgsl.js';
import { nibbleTake } from './nibble-wgsl.js';
import { projTake, projWords, storedProjQuery } from './proj-wgsl.js';
import { WG } from './wgsl.js';

/**
 * Keys a workgroup's list holds (a power of two: positions wrap with a mask; at least 3·WG: before
 * the scan the list's memory holds the query coding's reductions), at 1 or 2 keys a thread a tile
 * ({@link listCap}).
 */
export const LIST_CAP = 1024;

/** How the fused pass scans and counts: plan options fusedKeysPerThread, fusedPrefetch, fusedLeanState, usedCount. */
export interface FusedTuning {
  /** Keys each thread scans a tile (1, 2 or 4; default 1). */
  keysPerThread?: number;
  /** int8 rules: the next tile's codes loaded before this tile's dots and barriers. */
  prefetch?: boolean;
  /** The attention's lean state (attend-kernel.ts attendPieces): fewer registers through the scan. */
  lean?: boolean;
  /** ReLU: where the keys of positive weight are counted (attend-kernel.ts UsedCount; default 'lanes'). */
  usedCount?: UsedCount;
}

/** The list's keys at `keysPerThread` keys a thread: room for two tiles at least. */
export function listCap(keysPerThread = 1): number {
  return Math.max(LIST_CAP, 2 * keysPerThread * WG);
}

/**
 * Bindings of the fused pass: 0–4 the attention's (K, V, Q, part, params: attend-kernel.ts), 5–6
 * the int8 key codes and their meta (rules that scan them: select-wgsl.ts keyCodeBindings), 9 the
 * page table (paged layout), and a keep rule's own from RULE_BINDING on. WebGPU's default limit
 * is 8 storage buffers a stage: the int8 rule takes 6–7, the 4-bit one 8–9 (fused-kernel.ts
 * FusedPass checks them against the device's limit).
 */
export const RULE_BINDING = 10;

/** Which keys of its block a fused workgroup attends. */
export interface KeepRule {
  /** Names the rule in pipeline keys (one pipeline per rule and shape). */
  id: string;
  /**
   * What the pass reads for `keep`: 'int8' — the int8 codes (bindings 5–6) with the query coded in
   * the pass, their code dots computed; 'own' — nothing: the rule binds its codes and computes its
   * bound in `keep` (no query coding in the pass, `query` unused).
   */
  codes: 'int8' | 'own';
  /** Storage buffers the declarations bind. */
  storageBuffers: number;
  /**
   * 'own' codes laid out as the int8 ones (vec4u words `codes[(kvh · words + i) · p.stride + key]`,
   * meta `keyMeta[kvh · p.stride + key]`): their words a key and meta type, so the pass may load
   * several keys' codes, or the next step's, before it decides any (`keep`'s `source`).
   */
  loads?: { words: number; meta: 'vec4f' | 'vec2f' };
  /** Module-scope WGSL: bindings from {@link RULE_BINDING} on, workgroup memory, functions. */
  declarations: string;
  /** Bytes of workgroup memory the declarations take (the attention's fold buffer gives way). */
  workgroupBytes: number;
  /**
   * Statements every thread runs once before the block's scan, in uniform control flow (they may
   * use barriers): b0, b1 (the block's keys [b0, b1)), kvh, h0 (first head), lid, and the G
   * heads' query codes and coefficients (qcf[h]: A, E1, E2, ‖q‖) in scope.
   */
  prelude: string;
  /**
   * Statements run for each key jj (`valid`: the key is in the block; codes 'int8': after its code
   * dots — o[h] = ⟨codes, q̂⟩ for heads h0 + h (h < G), mt the key's meta, `query.coef(h)` the
   * bound's coefficients) that set `keep` (a var bool, false) where the key must be attended.
   * Keys not kept get no weight: the rule must keep every key whose weight can be nonzero for any
   * of the G heads (or account for the rest itself).
   */
  keep(G: number, query: QueryCodes, source?: CodeSource): string;
}

/** Exact ReLU: every key whose upper bound exceeds the bias for some head of the block's (select-wgsl.ts reluTake). */
export const reluKeepRule: KeepRule = {
  id: 'relu', codes: 'int8', storageBuffers: 0, declarations: '', workgroupBytes: 0, prelude: '',
  keep: (G, query) => `${reluTake(G, query)}
    for (var h = 0u; h < ${G}u; h++) { keep = keep || take[h]; }`,
};

/**
 * Exact ReLU on the 4-bit codes (nibble-wgsl.ts nibbleTake, the first filter 'int4-gather''s rule):
 * every key whose 4-bit upper bound exceeds the bias for some head — half the bytes a key of the
 * int8 codes, more keys kept (the bound is wider). Its buffers, from RULE_BINDING: the 4-bit codes,
 * their meta, the query pass's codes (qcode) and the 4-bit query pass's terms (qmu).
 */
export function nibbleKeepRule(D: number): KeepRule {
  const b = RULE_BINDING;
  return {
    id: 'int4', codes: 'own', storageBuffers: 4, workgroupBytes: 0, prelude: '',
    declarations: /* wgsl */ `
@group(0) @binding(${b}) var<storage, read> codes: array<vec4u>;
@group(0) @binding(${b + 1}) var<storage, read> keyMeta: array<vec2f>;
@group(0) @binding(${b + 2}) var<storage, read> qcode: array<vec4u>;
@group(0) @binding(${b + 3}) var<storage, read> qmu: array<vec4f>;`,
    keep: (G) => `${nibbleTake(D, G)}
    for (var h = 0u; h < ${G}u; h++) { keep = keep || take[h]; }`,
  };
}
/**
 * Exact ReLU on the keys' projections (proj-wgsl.ts projTake, the first filter 'proj-gather''s
 * rule): every key whose projection bound exceeds the bias for some head — 2R + 8 bytes a key
 * scanned (24 at R = 8), the keys kept few only where the keys are close to rank R. Its buffers,
 * from RULE_BINDING: the projection codes, their meta and the projection query pass's qproj.
 */
export function projKeepRule(R: number): KeepRule {
  const b = RULE_BINDING, RW = projWords(R);
  return {
    id: `proj${R}`, codes: 'own', storageBuffers: 3, workgroupBytes: 0, prelude: '', loads: { words: RW, meta: 'vec2f' },
    declarations: /* wgsl */ `
@group(0) @binding(${b}) var<storage, read> codes: array<vec4u>;
@group(0) @binding(${b + 1}) var<storage, read> keyMeta: array<vec2f>;
@group(0) @binding(${b + 2}) var<storage, read> qproj: array<vec4f>;`,
    keep: (G, _query, source) => `${projTake(R, G, storedProjQuery(R), source && ((w) => source.word(w, RW)), source?.meta)}
    for (var h = 0u; h < ${G}u; h++) { keep = keep || take[h]; }`,
  };
}

/**
 * Workgroup memory of a fused pass beside the attention's: the list, its count, the G heads' query
 * codes (int8 rules), a lean state's queries.
 */
export function fusedBytes(G: number, D: number, rule: KeepRule, tuning: FusedTuning = {}): number {
  return 4 * listCap(tuning.keysPerThread) + 16 + (rule.codes === 'int8' ? G * (2 * D + 16) : 0) + rule.workgroupBytes + (tuning.lean ? leanBytes(G, D) : 0);
}

/** The workgroup's query codes (qw: per head D/16 hi words then D/16 lo words, the query pass's layout; qcf: coefficients). */
const localQuery = (D: number): QueryCodes => ({
  word: (h, part, i) => `qw[${h} * ${D / 8}u + ${part ? `${D / 16}u + ` : ''}${i}]`,
  coef: (h) => `qcf[${h}]`,
});

/**
 * The fused pass: keys [s·p.chunk, min((s + 1)·p.chunk, p.n)) of block s = wid.x for the G heads of
 * scan group wid.y (group / G of them a KV head); the block's state for each head goes to slot s of
 * part (p.splits slots a head: the number of blocks) with its counts in the state (keys of positive
 * weight, keys attended: attend-kernel.ts end's header). int8 rules: the query is coded in the
 * pass itself (QUERY_CODE_FNS, as the query pass: each workgroup its G heads, a few hundred dims),
 * so a step is this pass and the merge. Dispatch (blocks, kvHeads · group / G).
 */
export function fusedSource(x: Omit<AttendShape, 'gather'> & { group: number } & FusedTuning, rule: KeepRule): string {
  const { D, G, group } = x;
  const CAP = listCap(x.keysPerThread);
  if (CAP < 3 * WG || (CAP & (CAP - 1)) !== 0) throw new Error('fusedSource: the list must hold a power of two ≥ 3·WG keys');
  const a = attendPieces(x, fusedBytes(G, D, rule, x));
  const DQ4 = D / 4, QL = Math.floor(WG / G), QP = 2 ** Math.ceil(Math.log2(QL));
  // A tree over each head's QL threads (entries [qh·QL, qh·QL + QL) of the list's memory, `width` u32 each).
  const tree = (width: number, join: (x: string, y: string) => string) => `for (var stride = ${QP / 2}u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (coding && qi < stride && qi + stride < QL) {
      ${Array.from({ length: width }, (_, c) => `list[${width}u * lid + ${c}u] = bitcast<u32>(${join(`bitcast<f32>(list[${width}u * lid + ${c}u])`, `bitcast<f32>(list[${width}u * (lid + stride) + ${c}u])`)});`).join('\n      ')}
    }
  }
  workgroupBarrier();`;
  const int8 = rule.codes === 'int8', query = localQuery(D);
  // Keys a thread scans a tile: with more than one, their loads are in flight together before the
  // tile's barriers (codes the pass can load — the int8 ones, a rule's `loads` —: all their words
  // are loaded first). `prefetch`: the next tile's words are loaded before this tile's decisions,
  // list and barriers, so their latency hides behind them (a workgroup holds the attention's state
  // through the scan: few are resident, docs/webgpu.md "Speed").
  const ld = int8 ? { words: D / 16, meta: 'vec4f' } : rule.loads, W = ld?.words ?? 0;
  const KPT = x.keysPerThread ?? 1, TILE = WG * KPT, prefetch = ld !== undefined && x.prefetch === true;
  if (2 * TILE > CAP) throw new Error(`fusedSource: ${KPT} keys a thread overflow the list`);
  const loaded = ld !== undefined && (KPT > 1 || prefetch);
  const codeWords = `var cw: array<vec4u, ${KPT * W}>; var cm: array<${ld?.meta}, ${KPT}>;`;
  const loadAt = (at: string) => Array.from({ length: KPT }, (_, k) => `{ let jk = min(${at} + ${k * WG}u + lid, b1 - 1u);
      for (var i = 0u; i < ${W}u; i++) { cw[${k * W}u + i] = codes[(kvh * ${W}u + i) * p.stride + jk]; }
      cm[${k}] = keyMeta[kvh * p.stride + jk]; }`).join('\n    ');
  const [now, nowMeta] = prefetch ? ['cwNow', 'cmNow'] : ['cw', 'cm'];
  // Where key k of a thread's tile has its words and meta (loaded) or none (read where they are stored).
  const source = (k: number): CodeSource | undefined => (loaded ? { word: (i) => `${now}[${k * W}u + ${i}]`, meta: `${nowMeta}[${k}]` } : undefined);
  const tileCodes = prefetch ? `let cwNow = cw; let cmNow = cm;
    ${loadAt('t0 + TILE')}` : loaded ? `${codeWords}
    ${loadAt('t0')}` : '';
  // int8 rules: the G heads' query codes and coefficients, QL threads a head (the query pass's
  // math); the list's memory holds the reductions until the scan starts.
  const coding = `let qh = lid / QL; let qi = lid % QL; let coding = qh < G;
  var mx = 0.0;
  if (coding) {
    for (var w = qi; w < DQ4; w += QL) { let v = abs(Q[(head0 + qh) * DQ4 + w]); mx = max(mx, max(max(v.x, v.y), max(v.z, v.w))); }
  }
  list[lid] = bitcast<u32>(mx);
  ${tree(1, (u, v) => `max(${u}, ${v})`)}
  let a = queryStep(bitcast<f32>(list[min(qh, G - 1u) * QL]));
  workgroupBarrier();
  var sums = vec3f(0.0);
  if (coding) {
    for (var w = qi; w < ${D / 16}u; w += QL) { // 16 dims a thread: one word of hi and one of lo codes
      var hi = vec4u(0u); var lo = vec4u(0u);
      for (var c = 0u; c < 4u; c++) {
        let qc = quadCode(Q[(head0 + qh) * DQ4 + 4u * w + c], a);
        sums += qc.sums; hi[c] = qc.hi; lo[c] = qc.lo;
      }
      qw[qh * ${D / 8}u + w] = hi; qw[qh * ${D / 8}u + ${D / 16}u + w] = lo;
    }
  }
  list[3u * lid] = bitcast<u32>(sums.x); list[3u * lid + 1u] = bitcast<u32>(sums.y); list[3u * lid + 2u] = bitcast<u32>(sums.z);
  ${tree(3, (u, v) => `${u} + ${v}`)}
  if (coding && qi == 0u) { qcf[qh] = queryCoef(p.scale, a, vec3f(bitcast<f32>(list[3u * lid]), bitcast<f32>(list[3u * lid + 1u]), bitcast<f32>(list[3u * lid + 2u]))); }`;
  return /* wgsl */ `${a.declarations(`${int8 ? keyCodeBindings(5, 'vec4f') : ''}
${rule.declarations}`)}
const WG = ${WG}u; const TILE = ${TILE}u; const CAP = ${CAP}u; const HG = ${group / G}u; const GS = ${group}u; const DQ4 = ${DQ4}u; const QL = ${QL}u;
var<workgroup> list: array<u32, CAP>;
var<workgroup> listEnd: atomic<u32>;
var<workgroup> listEndNow: u32;
${int8 ? `var<workgroup> qw: array<vec4u, ${G * D / 8}>;
var<workgroup> qcf: array<vec4f, G>;` : ''}
${BOUND_FNS}
${int8 ? QUERY_CODE_FNS : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let split = wid.x;
  let lane = lid % T; let team = lid / T;
  let kvh = wid.y / HG; let head0 = kvh * GS + (wid.y % HG) * G; let h0 = head0;
  let b0 = split * p.chunk; let b1 = min(b0 + p.chunk, p.n);
  ${int8 ? coding : ''}
  if (lid == 0u) { atomicStore(&listEnd, 0u); }
  workgroupBarrier();
  ${rule.prelude}
  ${a.begin}
  // Keys listed so far in this block, and how many of them are attended (both uniform).
  var done = 0u;
  ${prefetch ? `${codeWords}
  ${loadAt('b0')}` : ''}
  for (var t0 = b0; t0 < b1; t0 += TILE) {
    ${tileCodes}
    ${Array.from({ length: KPT }, (_, k) => `{
    let j = t0 + ${k * WG}u + lid; let valid = j < b1; let jj = min(j, b1 - 1u);
    ${int8 ? codeDots(D, G, false, query, source(k)) : ''}
    var keep = false;
    ${rule.keep(G, query, source(k))}
    if (keep) { list[atomicAdd(&listEnd, 1u) & (CAP - 1u)] = j; }
    }`).join('')}
    workgroupBarrier();
    if (lid == 0u) { listEndNow = atomicLoad(&listEnd); }
    let listed = workgroupUniformLoad(&listEndNow);
    // Attend what is listed when the next tile could overflow the list, and at the block's end.
    if (listed - done > CAP - TILE || t0 + TILE >= b1) {
      let r = vec2u(done, listed);
      ${a.keys((i) => `list[(${i}) & (CAP - 1u)]`)}
      done = listed;
      workgroupBarrier(); // every team has read its keys before the next ones are listed over them
    }
  }
  ${a.end('done')}
}`;
}
