/**
 * WebGpuDecodePlan's options: what each means, the defaults measured for them, and their check —
 * BAD_OPTION naming the option, what it takes and the options it depends on; UNSUPPORTED for a
 * rule the GPU does not run — resolving the plan's rule.
 */
import { HsrError } from '../errors.js';
import { resolveAttentionOptions, type Selection } from '../attention/options.js';
import { assertCount, describe } from '../tensor/matrix.js';
import type { GatherChunks, Storage } from './wgsl.js';
import type { RowLoads, UsedCount } from './attend-kernel.js';
import type { CertifiedCut, CertifiedQuery, FirstFilter, SelectionMode } from './selection.js';
import { PROJ_KEYS_PER_THREAD, PROJ_RANKS } from './proj-filter.js';

const FIRST_FILTERS: readonly FirstFilter[] = ['int8', 'int4', 'int4-gather', 'proj', 'proj-gather'];

/**
 * Workgroups a pass aims for: about two per multiprocessor of an H100 or H200 (132), one wave of
 * long-running workgroups — on an H100 this beat 528–2112 at 32k–512k keys (docs/webgpu.md).
 * WebGPU does not tell the multiprocessor count; larger GPUs may want more (`targetWorkgroups`).
 */
export const DEFAULT_WORKGROUPS = 264;
/**
 * sparsePass 'auto': exact sparse ReLU steps over at most this many keys take the fused pass, by
 * first filter (the others: the split path). On an H100 (8 query / 2 KV heads, d = 128, 1 %, H100
 * run 15, docs/webgpu.md "Speed"): 'int8' — fused faster at every length timed (256k 52.1 against
 * 60.9 µs split, 512k 80.0 against 86.6; 32k, 128k and the 8k-key dump 1.4–1.7× faster); longer
 * steps are unmeasured; 'proj-gather' — fused faster up to 128k (run 16: 22.5 against 27.1 µs at
 * 128k, 29.5 against 45.7 at 32k), level at 256k (35.3 against 35.4; 34.4 with the workgroup
 * count), slower at 512k (51.4 against 46.2).
 */
export const FUSED_MAX_LENGTH: Readonly<Partial<Record<FirstFilter, number>>> = { int8: 524288, 'proj-gather': 262144 };
/**
 * Exact sparse ReLU's fused pass: where it counts the keys of positive weight (plan option
 * usedCount): the workgroup's atomic, as dense ReLU's — H100 run 15, 1 %: 0.6–2.5 % faster than a
 * count a lane at 256k and 512k (int8 and 'proj-gather'; 256k int8 50.8 against 52.1 µs), 2–3 % at
 * 32k and 128k (run 16, int8: 29.3 against 30.0 µs at 128k), 3 % slower on the 8k-key dump (runs 15, 16).
 */
export const FUSED_USED_COUNT: UsedCount = 'workgroup';
/**
 * Certified ε: steps over at most this many keys run the dense kernel (certifiedDenseMax's default).
 * On an H100 (8 query / 2 KV heads, d = 128, f16) the dense step was faster than every certified
 * variant at 32k and 128k keys and on the 8k dump in runs 7, 11 and 13 (run 13, 128k: 56.8 against
 * 60.9–64.8 µs) and on two more instances at 128k in run 16; from 196k the faster one depends on
 * the instance (run 16: either, by 5–20 %): docs/webgpu.md "Speed".
 */
export const CERTIFIED_DENSE_MAX = 131072;

/**
 * Keys each team of the split path's gathered attention takes a step of its key loop (plan option
 * gatheredStepKeys), with the lean state too: on an H100 (run 13, 512k, 'proj-gather') the pass
 * took 25.2 µs at 1 % and 45.0 at 3 % with 4, against 26.1 and 49.1 with the lean state's 2
 * (1: 28.9, 8: 34.1 µs at 1 %).
 */
export const GATHERED_STEP_KEYS = 4;

/**
 * How the split path's gathered attention cuts the lists into its workgroups' chunks (plan option
 * gatheredChunks): on an H100 (run 15, 512k, 1 %, 'proj-gather') the pass took 23.6 µs with each
 * list's chunks of its own against 25.0 with a chunk spanning two lists (whose workgroup loads two
 * queries and folds twice, and the pass waits for it).
 */
export const GATHERED_CHUNKS: GatherChunks = 'aligned';

/**
 * Certified ε, the split path's compaction: keys each thread takes (plan option
 * certifiedCompactKeys) — on an H100 at 512k the compaction took 6.4 µs with 8 against 7.5 with 1
 * through the int8 codes and 5.8 against 7.0 through the projection's (run 16).
 */
export const CERTIFIED_COMPACT_KEYS = 8;

export interface DecodePlanOptions {
  heads: number;
  kvHeads: number;
  /** A multiple of 16 (the kernels read K rows in 16-byte words of f16 pairs or f32 quads). */
  headDim: number;
  /** Default headDim; a multiple of 8. */
  valueDim?: number;
  /** Element type of the caller's K and V buffers: 'f16' (packed two per 32 bits) or 'f32'. */
  storage: Storage;
  kind: 'softmax' | 'relu';
  alpha?: number;
  bias?: number;
  /** Default 1/√headDim. */
  scale?: number;
  /**
   * K/V layout: 'contiguous' (default) — [kvHeads, capacity, dim], capacity read off the buffer's
   * size; or paged — a pool [pages, kvHeads, pageSize, dim] and a page table (u32: logical page →
   * pool page) shared by the KV heads.
   */
  layout?: 'contiguous' | { pageSize: number };
  /** The longest context the plan will run (sizes its scratch, and the key codes of sparse plans). */
  maxLength: number;
  /** Workgroups a pass aims for (default {@link DEFAULT_WORKGROUPS}). */
  targetWorkgroups?: number;
  /**
   * 'dense' (default); sparse modes select the keys on the GPU from int8 key codes the plan keeps:
   * 'exact' (kind 'relu': every key of positive weight, the dense answer), { epsilon } (kind
   * 'softmax': certified, total variation to dense ≤ errorBound ≤ ε), { threshold } (the keys with
   * scaled logit ≥ t, else the best key; per head: setThresholds) or { topK } (the k best keys by
   * logit, ties to the smaller position) — the CPU's kept keys (docs/webgpu.md), errorBound as the
   * CPU reports it. Threshold and top-k need |⟨q, k⟩| < 1e30 unscaled.
   */
  sparsity?: 'dense' | 'exact' | { epsilon: number } | { threshold: number } | { topK: number };
  /**
   * Exact sparse ReLU: the scan over every key per step — 'int8' (default: the int8 codes, 144
   * bytes a key at d = 128), 'int4' (4-bit codes centred on the keys' mean, 72 bytes a key, then
   * the int8 scan over the keys they let through) or 'int4-gather' (the 4-bit scan's keys go
   * straight to the gathered attention, which scores each exactly; per-head lists — a KV group
   * too wide for one list — run as 'int4'); docs/webgpu.md. All keep every key of positive weight;
   * the 4-bit ones keep a second set of codes (d/2 + 8 bytes a position and KV head). 'proj' and
   * 'proj-gather' do the same with the keys' projections on `projectionRank` of their principal
   * directions (a basis made on the GPU from 256 sampled keys when coding starts from position 0;
   * 2·rank + 8 bytes a key): exact for any keys, but it drops keys only where they are close to
   * that rank (LLM-like synthetic keys; not the real dumps' keys: docs/webgpu.md).
   * Certified softmax { epsilon } takes 'proj' too: its scan buckets each key's projection bounds
   * (2·rank + 8 bytes a key) instead of its int8 codes' (proj-certified.ts); the cut keeps more keys
   * (the bounds are wider), each attended exactly; errorBound as with 'int8'.
   */
  firstFilter?: FirstFilter;
  /**
   * Exact sparse ReLU: how a step selects and attends — 'split' (a scan pass lists the keys in
   * global id lists, then the gathered attention reads them), 'fused' (one pass: each workgroup
   * scans a block of keys' codes and attends the keys it keeps right away, fused-wgsl.ts; with
   * firstFilter 'int8' it scans the int8 codes, with 'int4-gather' the 4-bit ones, with
   * 'proj-gather' the projections) or 'auto' (default: 'fused' for steps over at most
   * {@link FUSED_MAX_LENGTH} keys — 524288 with firstFilter 'int8', 262144 with 'proj-gather' —,
   * else 'split'). All attend every key of positive weight: the result is the dense one.
   */
  sparsePass?: 'auto' | 'split' | 'fused';
  /** 'proj' / 'proj-gather': 8 (default), 16, 24 or 32. */
  projectionRank?: number;
  /**
   * 'proj' / 'proj-gather', tuning (docs/webgpu.md): the projection scan's keys a thread — 8
   * (default: 3 % faster than 1 on an H100 at 512k, runs 11 and 13), 1, 2 or 4.
   */
  projectionKeysPerThread?: number;
  /**
   * Certified ε: 'global' (default: one cut a head from a histogram of every key's bound gaps) or
   * 'global-top-sum' (the same cut with the lower mass of the keys far above the anchor summed by
   * the scan instead of capped at its bucket's edge: fewer keys kept, certified-cut.ts). Both keep
   * errorBound ≤ ε and never below the true total variation (docs/webgpu.md).
   */
  certifiedCut?: CertifiedCut;
  /**
   * Certified ε with firstFilter 'proj', tuning (docs/webgpu.md): the query passes of a step —
   * 'proj' (default: the projection's query pass alone, the anchor from the projection bounds of
   * 256 sampled keys; H100 run 16: 7.2 µs against 8.9 + 4.5 at 512k) or 'int8' (the int8 codes' query pass sets the anchor from their
   * bounds of the same samples, then the projection's query pass: one dependent pass more). Any
   * anchor is correct; the kept keys may differ a little.
   */
  certifiedQuery?: CertifiedQuery;
  /**
   * Certified ε with union lists, tuning (docs/webgpu.md): the compaction's keys a thread — 1, 2, 4
   * or 8 (default {@link CERTIFIED_COMPACT_KEYS}): their bytes loaded together, one append for
   * them all. The same keys.
   */
  certifiedCompactKeys?: 1 | 2 | 4 | 8;
  /**
   * Certified ε: steps over at most this many keys run the dense kernel instead of the selection
   * (errorBound 0, keysScored = keysUsed = n) — below the length where the selection's passes pay
   * for themselves (default {@link CERTIFIED_DENSE_MAX}, measured on an H100; 0: always select).
   */
  certifiedDenseMax?: number;
  /**
   * The fused pass: keys each thread scans a tile of the block (1, 2 or 4; default 1) — more loads
   * in flight before the tile's barriers (the int8 codes' words are loaded first); a tuning choice:
   * docs/webgpu.md.
   */
  fusedKeysPerThread?: 1 | 2 | 4;
  /**
   * sparsePass 'fused' with the int8 codes: each tile's codes are loaded while the tile before is
   * scanned (default false; a tuning choice: docs/webgpu.md).
   */
  fusedPrefetch?: boolean;
  /**
   * sparsePass 'fused': the attention's state kept lean through the scan (queries in workgroup
   * memory, 2 keys a team step; attend-kernel.ts LEAN_STEP_KEYS) — fewer registers, more resident
   * workgroups (default true: H100 run 11, 512k 1 %: 0.0837 against 0.1098 ms; docs/webgpu.md).
   */
  fusedLeanState?: boolean;
  /**
   * Sparse modes' split path: the gathered attention pass keeps a lean state (as fusedLeanState:
   * fewer registers, more resident workgroups; default true: H100 run 11, 512k 1 %, its pass 31
   * against 42 µs, certified unchanged; docs/webgpu.md).
   */
  gatheredLeanState?: boolean;
  /**
   * Dense ReLU: where the attention kernel counts the keys of positive weight (stats keysUsed;
   * attend-kernel.ts UsedCount) — 'workgroup' (default: each key added to the workgroup's atomic
   * count at once, no count in the key loop's registers; H100 run 13, 512k: 0.188 ms, as dense
   * softmax, against 0.235 for 'lanes') or 'lanes' (a count a lane and head in registers through
   * the key loop). Both exact (docs/webgpu.md). Exact sparse ReLU: the fused pass's count
   * (sparsePass 'fused', or 'auto' with firstFilter 'int8' or 'proj-gather'; default
   * {@link FUSED_USED_COUNT}); the split path's gathered pass always counts a lane (its workgroup
   * count was slower, H100 run 15), so there the option is refused (BAD_OPTION).
   */
  usedCount?: UsedCount;
  /**
   * Sparse modes' split path, tuning (docs/webgpu.md): keys each team of the gathered attention
   * takes per step of its key loop — 1, 2, 4 or 8 (default {@link GATHERED_STEP_KEYS}): more rows
   * in flight and fewer serial steps a workgroup, against more registers a thread.
   */
  gatheredStepKeys?: 1 | 2 | 4 | 8;
  /**
   * Sparse modes' split path, tuning (docs/webgpu.md): how the gathered attention loads a step's
   * K/V rows (attend-kernel.ts RowLoads): 'interleaved' (default) or 'batched' (every row's words
   * first, and the first step's ids before the query).
   */
  gatheredLoads?: RowLoads;
  /**
   * Sparse modes' split path, tuning: how the kept keys' lists are cut into the gathered pass's
   * chunks (wgsl.ts GatherChunks): 'aligned' (default {@link GATHERED_CHUNKS}: each list starts a
   * chunk of its own, no workgroup attends two lists) or 'spanning' (a chunk may cross two lists).
   */
  gatheredChunks?: GatherChunks;
  /**
   * The dense kernel (dense plans, and certified steps run dense), tuning (docs/webgpu.md): the
   * teams' fold begins with the two teams of a subgroup folded by subgroup shuffles
   * (attend-kernel.ts pairFold; default false; UNSUPPORTED where a subgroup holds fewer than two
   * teams' lanes).
   */
  densePairFold?: boolean;
}

/** The rule a plan runs: dense, or a sparse mode of its selection. */
export type PlanMode = { kind: 'dense' } | SelectionMode;

/** Options as checked, with alpha and bias resolved (the kernels take numbers). */
export type CheckedPlanOptions = DecodePlanOptions & { alpha: number; bias: number };

/**
 * Whether a plan has a fused pass: sparsePass 'fused', or 'auto' with exact sparse ReLU through a
 * first filter that has a fused rule ({@link FUSED_MAX_LENGTH}); encode picks it by length.
 */
export function hasFusedPass(options: DecodePlanOptions, mode: PlanMode | null): boolean {
  return (mode?.kind === 'relu' && (options.sparsePass === 'fused' || ((options.sparsePass ?? 'auto') === 'auto' && FUSED_MAX_LENGTH[options.firstFilter ?? 'int8'] !== undefined)))
    || (mode?.kind === 'certified' && options.sparsePass === 'fused');
}

/** Checks every option (the shape, then the rule, then the tuning options) and resolves the plan's rule. */
export function checkPlanOptions(options: DecodePlanOptions): { options: CheckedPlanOptions; mode: PlanMode } {
  checkShape(options);
  const w = resolveAttentionOptions({ kind: options.kind, alpha: options.alpha, bias: options.bias, scale: options.scale, sparsity: options.sparsity ?? 'dense' },
    options.headDim, 'WebGpuDecodePlan');
  const sel = w.selection;
  const mode = sel.rule === 'dense' ? { kind: 'dense' as const } : sel.rule === 'exact' ? { kind: 'relu' as const }
    : sel.rule === 'certified' ? { kind: 'certified' as const, epsilon: sel.epsilon }
    : sel.rule === 'threshold' ? { kind: 'rank' as const, row: { threshold: sel.threshold } }
    : sel.rule === 'top-k' ? { kind: 'rank' as const, row: { topK: sel.topK } } : null;
  checkTuning(options, mode, sel.rule);
  if (!mode) throw new HsrError('UNSUPPORTED', `WebGpuDecodePlan: expected sparsity 'dense', 'exact' (ReLU), { epsilon }, { threshold } or { topK } (softmax), got the ${sel.rule} rule`);
  return { options: { ...options, alpha: w.alpha, bias: w.bias }, mode };
}

/** BAD_OPTION saying what the plan expected and what came. */
function refused(expected: string, got: string): HsrError {
  return new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected ${expected}, got ${got}`);
}

function checkShape(options: DecodePlanOptions): void {
  if (options === null || typeof options !== 'object') throw refused('an options object', describe(options));
  const { heads, kvHeads, headDim, maxLength } = options, valueDim = options.valueDim ?? headDim;
  for (const [name, x] of [['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim], ['valueDim', valueDim], ['maxLength', maxLength]] as const) {
    assertCount(x, `WebGpuDecodePlan ${name}`);
    if (x < 1) throw refused(`${name} ≥ 1`, String(x));
  }
  if (heads % kvHeads !== 0) throw refused(`heads (${heads}) to be a multiple of kvHeads`, String(kvHeads));
  if (headDim % 16 !== 0 || valueDim % 8 !== 0 || headDim > 2048 || valueDim > 2048) {
    throw refused('headDim a multiple of 16 and valueDim of 8 (≤ 2048)', `${headDim} and ${valueDim}`);
  }
  if (options.storage !== 'f16' && options.storage !== 'f32') throw refused(`storage 'f16' or 'f32'`, describe(options.storage));
  const layout = options.layout ?? 'contiguous';
  if (layout !== 'contiguous' && !(typeof layout === 'object' && layout !== null && Number.isSafeInteger(layout.pageSize) && layout.pageSize >= 1)) {
    throw refused(`layout 'contiguous' or { pageSize: integer ≥ 1 }`, JSON.stringify(layout));
  }
}

/** Where the fused pass's tuning options apply. */
const FUSED_WHERE = `with sparsePass 'fused' (exact sparse ReLU or certified), or 'auto' with exact sparse ReLU and firstFilter 'int8' or 'proj-gather'`;
/** Where the split path's tuning options apply. */
const SPLIT_WHERE = `with a sparse mode and sparsePass 'split' or 'auto'`;

/** The tuning options and the first filter: each where the plan's rule and passes use it. */
function checkTuning(options: DecodePlanOptions, mode: PlanMode | null, rule: Selection['rule']): void {
  const filter = options.firstFilter ?? 'int8';
  const fusable = hasFusedPass(options, mode);
  const prefetchable = fusable && mode?.kind === 'relu' && (filter === 'int8' || filter === 'proj-gather');
  const splitPath = mode !== null && mode.kind !== 'dense' && options.sparsePass !== 'fused';
  // What the messages say came with the option.
  const theRule = `the ${rule} rule`, pass = `sparsePass ${describe(options.sparsePass)}`, firstFilter = `firstFilter ${describe(filter)}`;
  if (options.fusedKeysPerThread !== undefined && (![1, 2, 4].includes(options.fusedKeysPerThread) || !fusable)) {
    throw refused(`fusedKeysPerThread 1, 2 or 4 ${FUSED_WHERE}`, `${describe(options.fusedKeysPerThread)} with ${pass} and ${firstFilter}`);
  }
  if (options.fusedLeanState !== undefined && (typeof options.fusedLeanState !== 'boolean' || !fusable)) {
    throw refused(`fusedLeanState true or false ${FUSED_WHERE}`, `${describe(options.fusedLeanState)} with ${pass} and ${firstFilter}`);
  }
  if (options.gatheredLeanState !== undefined && (typeof options.gatheredLeanState !== 'boolean' || !splitPath)) {
    throw refused(`gatheredLeanState true or false ${SPLIT_WHERE}`, `${describe(options.gatheredLeanState)} with ${theRule} and ${pass}`);
  }
  if (options.usedCount !== undefined && (!['lanes', 'workgroup'].includes(options.usedCount) || options.kind !== 'relu' || !(mode?.kind === 'dense' || (mode?.kind === 'relu' && fusable)))) {
    throw refused(`usedCount 'lanes' or 'workgroup' with dense ReLU, or exact sparse ReLU with sparsePass 'fused' (or 'auto' with firstFilter 'int8' or 'proj-gather')`,
      `${describe(options.usedCount)} with kind ${describe(options.kind)}, ${theRule}, ${pass} and ${firstFilter}`);
  }
  if ((options.gatheredLoads !== undefined && !(['interleaved', 'batched'].includes(options.gatheredLoads) && splitPath))
    || (options.gatheredChunks !== undefined && !(['spanning', 'aligned'].includes(options.gatheredChunks) && splitPath))) {
    throw refused(`gatheredLoads 'interleaved' or 'batched' and gatheredChunks 'spanning' or 'aligned' ${SPLIT_WHERE}`,
      `${describe(options.gatheredLoads)} and ${describe(options.gatheredChunks)} with ${theRule} and ${pass}`);
  }
  if (options.densePairFold !== undefined && !(typeof options.densePairFold === 'boolean' && (mode?.kind === 'dense' || mode?.kind === 'certified'))) {
    throw refused('densePairFold true or false with a dense plan or certified softmax (its dense steps)', `${describe(options.densePairFold)} with ${theRule}`);
  }
  if (options.gatheredStepKeys !== undefined && (![1, 2, 4, 8].includes(options.gatheredStepKeys) || !splitPath)) {
    throw refused(`gatheredStepKeys 1, 2, 4 or 8 ${SPLIT_WHERE}`, `${describe(options.gatheredStepKeys)} with ${theRule} and ${pass}`);
  }
  if (options.fusedPrefetch !== undefined && (typeof options.fusedPrefetch !== 'boolean' || !prefetchable)) {
    throw refused(`fusedPrefetch true or false with exact sparse ReLU, sparsePass 'fused' or 'auto' and firstFilter 'int8' or 'proj-gather'`,
      `${describe(options.fusedPrefetch)} with ${pass} and ${firstFilter}`);
  }
  if (options.sparsePass !== undefined && options.sparsePass !== 'split' && options.sparsePass !== 'auto'
    && !(options.sparsePass === 'fused' && mode?.kind === 'relu' && (filter === 'int8' || filter === 'int4-gather' || filter === 'proj-gather'))
    && !(options.sparsePass === 'fused' && mode?.kind === 'certified')) {
    throw refused(`sparsePass 'auto', 'split', or 'fused' with exact sparse ReLU and firstFilter 'int8', 'int4-gather' or 'proj-gather' or with certified softmax { epsilon }`,
      `${describe(options.sparsePass)} with ${theRule} and ${firstFilter}`);
  }
  if (filter !== 'int8' && !(FIRST_FILTERS.includes(filter) && mode?.kind === 'relu') && !(filter === 'proj' && mode?.kind === 'certified')) {
    throw refused(`firstFilter 'int8', or ${FIRST_FILTERS.filter((f) => f !== 'int8').map((f) => `'${f}'`).join(' / ')} with exact sparse ReLU, or 'proj' with certified softmax { epsilon }`,
      `${describe(options.firstFilter)} with ${theRule}`);
  }
  if (options.projectionRank !== undefined && !(PROJ_RANKS.includes(options.projectionRank) && filter.startsWith('proj'))) {
    throw refused(`projectionRank ${PROJ_RANKS.join(', ')} with firstFilter 'proj' or 'proj-gather'`, `${describe(options.projectionRank)} with ${describe(filter)}`);
  }
  if (options.projectionKeysPerThread !== undefined && !(PROJ_KEYS_PER_THREAD.includes(options.projectionKeysPerThread) && filter.startsWith('proj'))) {
    throw refused(`projectionKeysPerThread ${PROJ_KEYS_PER_THREAD.join(', ')} with firstFilter 'proj' or 'proj-gather'`, `${describe(options.projectionKeysPerThread)} with ${describe(filter)}`);
  }
  if (options.certifiedDenseMax !== undefined && !(Number.isSafeInteger(options.certifiedDenseMax) && options.certifiedDenseMax >= 0 && mode?.kind === 'certified')) {
    throw refused('certifiedDenseMax an integer ≥ 0 with certified softmax { epsilon }', `${describe(options.certifiedDenseMax)} with ${theRule}`);
  }
  // (Certified 'proj' buckets one key a thread: projectionKeysPerThread is exact ReLU's.)
  if (filter === 'proj' && mode?.kind === 'certified' && options.projectionKeysPerThread !== undefined) {
    throw refused(`no projectionKeysPerThread with certified softmax and firstFilter 'proj'`, describe(options.projectionKeysPerThread));
  }
  const cutRule = options.certifiedCut ?? 'global';
  if (cutRule !== 'global' && !(cutRule === 'global-top-sum' && mode?.kind === 'certified')) {
    throw refused(`certifiedCut 'global', or 'global-top-sum' with certified softmax { epsilon }`, `${describe(options.certifiedCut)} with ${theRule}`);
  }
  if (options.certifiedQuery !== undefined && !(['int8', 'proj'].includes(options.certifiedQuery) && mode?.kind === 'certified' && filter === 'proj')) {
    throw refused(`certifiedQuery 'int8' or 'proj' with certified softmax { epsilon } and firstFilter 'proj'`, `${describe(options.certifiedQuery)} with ${theRule} and ${firstFilter}`);
  }
  if (options.certifiedCompactKeys !== undefined && !([1, 2, 4, 8].includes(options.certifiedCompactKeys) && mode?.kind === 'certified' && options.sparsePass !== 'fused')) {
    throw refused(`certifiedCompactKeys 1, 2, 4 or 8 with certified softmax { epsilon } and sparsePass 'split' or 'auto'`, `${describe(options.certifiedCompactKeys)} with ${theRule} and ${pass}`);
  }
}
