/**
 * WGSL of causal prefill on WebGPU (FlashAttention-style): a workgroup owns a query tile — BQ
 * positions × G query heads of one KV group, 4·TY rows (64, 32 or 16) — and walks the key tiles its rows can see,
 * BK keys at a time; every row keeps its own online softmax (or ReLU^α state), so nothing is merged
 * afterwards. Both products are register-blocked like a GEMM (core WGSL has no matrix units, so
 * every multiply-add is a float32 FMA, and what bounds it is how many of them each workgroup-memory
 * load feeds):
 * - scores S = Q·Kᵀ: thread (ty, tx) of TY × TX computes a 4 × 4 micro-tile — rows 4·ty … 4·ty + 3,
 *   keys tx + TX·j — over the full d, DC dims at a time: per dim one vec4 of Q (4 rows) and one of
 *   K (4 keys) from workgroup memory feed 16 FMAs. Q and K chunks are stored transposed there
 *   (dim-major), K and V converted to float32 once per tile (f16 words are unpacked on the way in);
 * - a row's maximum over the tile meets through workgroup memory (one vec4 per thread and TX reads),
 *   each thread exponentiates only its own 16 scores and writes them to the P tile;
 * - O += P·V: the same thread owns the same 4 rows and dims 4·(tx + TX·u) … + 3 of each, so its
 *   rows' maxima, rescales and sums stay in its registers; per key one vec4 of P and VU of V feed
 *   16·VU FMAs. Partial row sums are folded across the TX threads of a row once, at the end.
 * - Key tiles past the tile's last visible key are never visited (causal); the diagonal tile masks
 *   per row (key j visible to row i iff j < i + n − m + 1). Query tiles are dispatched heaviest first,
 *   across all KV head groups (order 'global').
 * - Exact sparse ReLU^α: a mask pass (maskSource) marks the key tiles where some visible
 *   (row, key) pair has a certified upper bound (int8 codes, codes-wgsl.ts BOUND_FNS) above the bias;
 *   the attention pass skips the others without loading them: every key there has weight 0.
 *
 * Layouts (dims padded with zeros to D / DV, multiples of 16 / 8):
 *   K, V      [kvHeads, cap, D|DV]  f32 (vec4f) or f16 packed two per u32 (vec4u, 8 dims a word)
 *   Q         [heads, m, D]         f32;  out [heads, m, DV] f32
 *   rowCount  [heads, m]            vec2u (keys scored, keys with positive weight) of each row
 *   codes     [kvHeads, cap, D/4]   int8 key codes; keyMeta [kvHeads, cap] vec4f (s, R, N, 0)
 *   qcode     [heads, m, 2, D/4]    the queries' int8 parts; coef [heads, m] vec4f (A, E1, E2, 0)
 *   mask      [kvHeads·sub, qTiles, kTiles] u32: 1 = the tile has a key that may count
 */
import { BOUND_FNS } from './codes-wgsl.js';
import { NEG, WG, type Storage, type Weighting } from './wgsl.js';

/** Rows of a thread's micro-tile (a query tile has TY such row groups: 4·TY rows). */
const RT = 4;
/** Keys of a thread's micro-tile (one vec4 of scores per row). */
const KT = 4;

/** The prefill passes' uniform, as prefill.ts writes it. */
export const PREFILL_PARAMS = /* wgsl */ `struct Params { m: u32, n: u32, shift: i32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32,
  qTiles: u32, kTiles: u32, causal: u32, rows: u32 }`;
export const PREFILL_PARAMS_BYTES = 48;

/**
 * Tile sizes of the attention pass: TY row groups of 4 rows (16, 8 or 4: 4·TY rows a query tile),
 * TX threads a row group (16 or 8: TY·TX threads), BK = 4·TX keys a tile, DC dims of Q and K a step
 * of the score loop (16, 32 or 64, dividing D), KC keys of V a step of the output loop (a power of
 * two ≤ BK).
 */
export interface PrefillTiles {
  TY: number; TX: number; BK: number; DC: number; KC: number;
  /**
   * Fetch the next chunk's global words into registers while this one is computed (more registers
   * a thread, fewer workgroups a multiprocessor), else just before storing them.
   */
  prefetch: boolean;
  /**
   * Order of the query tiles: 'global' starts the heaviest (latest) tiles of every KV head group
   * first; 'group' walks the groups one after another, heaviest first within each, so the last
   * group's heaviest tiles start late and finish alone.
   */
  order: 'global' | 'group';
  /**
   * Key splits S: each query tile's visible key tiles are cut into S runs walked by S workgroups,
   * whose partial states a merge pass (prefillMergeSource) combines — more workgroups where a
   * problem has few query rows (a chunk over a long context), at the cost of the partial states'
   * traffic. 1: no split, no merge.
   */
  splits: number;
}

export interface PrefillShape extends PrefillTiles {
  D: number; DV: number;
  /** Query heads of one KV group a workgroup serves: 1, 2 or 4. */
  G: number;
  storage: Storage;
  weighting: Weighting;
  alpha: number;
  /** Skip the key tiles the mask pass left unmarked (exact sparse ReLU). */
  sparse: boolean;
}

/** Positions of a query tile for G heads a workgroup and TY row groups. */
export function queryTile(G: number, TY: number): number {
  return (RT * TY) / G;
}

/**
 * Workgroups a prefill should have at least: a GPU of ~100 multiprocessors holds 2–4 of them on
 * each, and causal tiles differ in weight up to m / BQ-fold, so one full wave is not enough to
 * balance (fewer, larger tiles leave the heaviest ones finishing alone).
 */
export const MIN_WORKGROUPS = 1024;

/**
 * Key splits (1, 2, 4 or 8) for `workgroups` query tiles over at most `keyTiles` key tiles each:
 * the fewest that reach MIN_WORKGROUPS, keeping ≥ 4 key tiles a split (a split pays a partial
 * state's write and merge). Splitting keys keeps the 64-row query tiles, which load each K/V tile
 * for the most rows: on an H100, 32- and 16-row tiles took 1.2–2.6× as long at every shape measured,
 * splits never slower (docs/webgpu.md "Prefill").
 */
export function keySplits(workgroups: number, keyTiles: number): number {
  let S = 1;
  while (S < 8 && workgroups * S < MIN_WORKGROUPS && keyTiles >= 8 * S) S *= 2;
  return S;
}

/** Heads of a KV group one workgroup serves: the largest of 4, 2, 1 dividing the group. */
export function headsPerTile(group: number): number {
  return group % 4 === 0 ? 4 : group % 2 === 0 ? 2 : 1;
}

/**
 * Workgroup memory of the attention pass (bytes): the P tile (BK keys × 4·TY rows) beside one region
 * that holds in turn the Q and K chunks, the rows' partial maxima / sums and counts, and a V chunk.
 */
export function prefillBytes(t: PrefillTiles, DV: number): number {
  const rows = RT * t.TY;
  return 4 * (t.BK * rows + Math.max(t.DC * (rows + t.BK), 2 * t.TX * rows, t.KC * DV));
}

/**
 * The largest tiles of 4·TY rows whose workgroup memory fits `limit` bytes (larger chunks: fewer
 * barriers a tile): at d = dv = 128 and 64 rows, 64-key tiles with 64-dim chunks need 48 KiB, with
 * 32-dim chunks 32 KiB; 32-key tiles (128 threads) fit WebGPU's default 16 KiB; null when not even
 * those fit (the head is too wide for this device).
 */
export function prefillTiles(D: number, DV: number, limit: number, TY = 16): PrefillTiles | null {
  for (const TX of [16, 8]) {
    for (const DC of [64, 32, 16].filter((c) => D % c === 0)) {
      for (let KC = 4 * TX; KC >= 4; KC /= 2) {
        const t: PrefillTiles = { TY, TX, BK: 4 * TX, DC, KC, prefetch: true, order: 'global', splits: 1 };
        if (prefillBytes(t, DV) <= limit) return t;
      }
    }
  }
  return null;
}

/** The attention pass. Dispatch (qTiles, kvHeads·sub·splits); TY·TX threads. */
export function prefillSource(x: PrefillShape): string {
  const { D, DV, G, TY, TX, BK, DC, KC, prefetch, order, splits: S, storage, weighting, alpha, sparse } = x;
  const NTH = TY * TX, BQ = queryTile(G, TY), D4 = D / 4, DV4 = DV / 4, VU = Math.ceil(DV4 / TX);
  const f16 = storage === 'f16';
  const word = f16 ? 'vec4u' : 'vec4f';
  // Words of a K / V row: vec4u of 8 f16 dims, or vec4f of 4 f32 dims; words of a K row in a chunk.
  const DW = f16 ? 8 : 4, KROW = D / DW, VROW = DV / DW, CW = DC / DW;
  const softmax = weighting === 'softmax';
  const rows = [0, 1, 2, 3], cs = ['x', 'y', 'z', 'w'];
  const power = (e: string) => (alpha === 1 ? e : Array.from({ length: alpha }, () => e).join(' * '));
  const unpack = (w: string) => `vec4f(unpack2x16float(${w}.x), unpack2x16float(${w}.y)), vec4f(unpack2x16float(${w}.z), unpack2x16float(${w}.w))`;
  // Region offsets (vec4 units): Q chunk [DC][TY] then K chunk [DC][TX]; V chunk [KC][DV4].
  const KOFF = DC * TY;
  // Q and K chunk c into the region, transposed: Q task (row group g, quad o) loads 4 rows' quad o
  // and writes 4 dims × (4 rows) at slot g ^ o; K task (thread x, word o) loads keys x + TX·j and
  // writes its dims × (4 keys) at slot x ^ o. The xor puts the 8 tasks of a quarter warp (8 words o
  // of one row group) in 8 different banks; readers xor their slot the same way.
  // (Without it a task's stores would queue 8-deep on one bank: more workgroup-memory cycles than the FMAs.)
  // Each thread's tasks: QI of Q, KI of K, VI of V (thread lid takes tasks lid + NTH·it). Their
  // global words are fetched into registers (qw, kw, vw) — with prefetch one chunk ahead, while the
  // chunk before is scored or weighed — and stored to the region between two barriers.
  const QTASKS = TY * (DC / 4), KTASKS = TX * CW, VTASKS = KC * VROW;
  const QI = Math.ceil(QTASKS / NTH), KI = Math.ceil(KTASKS / NTH), VI = Math.ceil(VTASKS / NTH);
  const its = (count: number) => Array.from({ length: count }, (_, it) => it);
  const fetchQK = (d0: string) => [
    ...its(QI).map((it) => `{ let w = lid + ${it * NTH}u; let g = w / ${DC / 4}u; let o = w % ${DC / 4}u;
        if (w < ${QTASKS}u) {
          ${rows.map((i) => `qw[${4 * it + i}] = p.scale * Q[((head0 + (4u * g + ${i}u) % G) * p.m + min(qt * BQ + (4u * g + ${i}u) / G, p.m - 1u)) * ${D4}u + ${d0} / 4u + o];`).join('\n          ')}
        } }`),
    ...its(KI).map((it) => `{ let w = lid + ${it * NTH}u; let x = w / ${CW}u; let o = w % ${CW}u;
        if (w < ${KTASKS}u) {
          ${rows.map((j) => `{ let j = k0 + x + ${TX * j}u; kw[${4 * it + j}] = select(${word}(0), K[(kvh * p.cap + min(j, p.n - 1u)) * ${KROW}u + ${d0} / ${DW}u + o], j < p.n); }`).join('\n          ')}
        } }`),
  ].join('\n      ');
  const k4 = (it: number) => rows.map((j) => `kw[${4 * it + j}]`);
  const storeQK = /* wgsl */ `workgroupBarrier(); // the region's previous readers are done
      ${its(QI).map((it) => `{ let w = lid + ${it * NTH}u; let g = w / ${DC / 4}u; let o = w % ${DC / 4}u;
        if (w < ${QTASKS}u) {
          ${cs.map((c, e) => `sm[(4u * o + ${e}u) * ${TY}u + (g ^ (o % ${TY}u))] = vec4f(${rows.map((i) => `qw[${4 * it + i}].${c}`).join(', ')});`).join('\n          ')}
        } }`).join('\n      ')}
      ${its(KI).map((it) => `{ let w = lid + ${it * NTH}u; let x = w / ${CW}u; let o = w % ${CW}u;
        if (w < ${KTASKS}u) {
          ${f16
    ? `${k4(it).map((w, j) => `let a${j} = array<vec4f, 2>(${unpack(w)});`).join(' ')}
          ${[0, 1].flatMap((h) => cs.map((c, e) => `sm[${KOFF}u + (8u * o + ${4 * h + e}u) * ${TX}u + (x ^ (o % ${TX}u))] = vec4f(a0[${h}].${c}, a1[${h}].${c}, a2[${h}].${c}, a3[${h}].${c});`)).join('\n          ')}`
    : cs.map((c, e) => `sm[${KOFF}u + (4u * o + ${e}u) * ${TX}u + (x ^ (o % ${TX}u))] = vec4f(${k4(it).map((w) => `${w}.${c}`).join(', ')});`).join('\n          ')}
        } }`).join('\n      ')}
      workgroupBarrier();`;
  // Four dims of the score loop: a vec4 of Q (4 rows) and of K (4 keys) feed 16 FMAs.
  const scoreStep = [0, 1, 2, 3].map((u) => `{ let qv = sm[(dd + ${u}u) * ${TY}u + qs]; let kv = sm[${KOFF}u + (dd + ${u}u) * ${TX}u + ks];
          ${rows.map((i) => `s[${i}] += qv.${cs[i]} * kv;`).join(' ')} }`).join('\n        ');
  const fetchV = (kc: string) => its(VI).map((it) => `{ let w = lid + ${it * NTH}u; let j = k0 + ${kc} + w / ${VROW}u;
        if (w < ${VTASKS}u) { vw[${it}] = select(${word}(0), V[(kvh * p.cap + min(j, p.n - 1u)) * ${VROW}u + w % ${VROW}u], j < p.n); } }`).join('\n      ');
  const storeV = /* wgsl */ `workgroupBarrier(); // the P tile is written, the region's previous readers are done
      ${its(VI).map((it) => `{ let w = lid + ${it * NTH}u; let r = w / ${VROW}u; let o = w % ${VROW}u;
        if (w < ${VTASKS}u) { ${f16 ? `sm[r * ${DV4}u + 2u * o] = vec4f(unpack2x16float(vw[${it}].x), unpack2x16float(vw[${it}].y)); sm[r * ${DV4}u + 2u * o + 1u] = vec4f(unpack2x16float(vw[${it}].z), unpack2x16float(vw[${it}].w));`
    : `sm[r * ${DV4}u + o] = vw[${it}];`} } }`).join('\n      ')}
      workgroupBarrier();`;
  const us = Array.from({ length: VU }, (_, u) => u);
  return /* wgsl */ `
const TY = ${TY}u; const TX = ${TX}u; const G = ${G}u; const BQ = ${BQ}u; const BK = ${BK}u; const NEG = ${NEG};
${PREFILL_PARAMS}
@group(0) @binding(0) var<storage, read> K: array<${word}>;
@group(0) @binding(1) var<storage, read> V: array<${word}>;
@group(0) @binding(2) var<storage, read> Q: array<vec4f>;
${S > 1 ? '' : '@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;'}
@group(0) @binding(4) var<uniform> p: Params;
${S > 1 ? '' : '@group(0) @binding(5) var<storage, read_write> rowCount: array<vec2u>;'}
${sparse ? '@group(0) @binding(6) var<storage, read> mask: array<u32>;' : ''}
${S > 1 ? `// Partial states [heads·m rows][S splits] × (state, DV/4 vec4 of unnormalized output): see prefillMergeSource.
@group(0) @binding(7) var<storage, read_write> part: array<vec4f>;` : ''}
// P tile: key kl's 4 rows of row group g at kl·TY + (g ^ (kl % TY)) (the xor spreads a step's
// writes over the banks); the region: see prefillBytes.
var<workgroup> ps: array<vec4f, ${BK * TY}>;
var<workgroup> sm: array<vec4f, ${prefillBytes(x, DV) / 16 - BK * TY}>;
${softmax ? '' : `fn pw(x: vec4f) -> vec4f { return ${power('x')}; }`}
${sparse ? `// The first tile at or after t that the mask pass marked (tiles if none).
fn nextLive(z: u32, qt: u32, t: u32, tiles: u32) -> u32 {
  var u = t;
  while (u < tiles && mask[(z * p.qTiles + qt) * p.kTiles + u] == 0u) { u++; }
  return u;
}` : ''}

@compute @workgroup_size(${NTH})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Heaviest (latest) tiles first: they start while light ones fill in (workgroups start in the
  // order of their linear id, x fastest).
  // zs: the workgroup's (KV head, sub-group of G heads) z and key split, of nwg.y.
  ${order === 'global'
    ? 'let id = wid.y * nwg.x + wid.x; let qt = p.qTiles - 1u - id / nwg.y; let zs = id % nwg.y;'
    : 'let qt = p.qTiles - 1u - wid.x; let zs = wid.y;'}
  let z = zs / ${S}u; let split = zs % ${S}u;
  let kvh = z / p.sub; let head0 = kvh * p.groupSize + (z % p.sub) * G;
  let tx = lid % TX; let ty = lid / TX;
  // Keys visible to this thread's rows 4·ty + i (position qt·BQ + row / G), and to the whole tile.
  var lim: vec4u;
  ${rows.map((i) => `{ let pos = qt * BQ + (4u * ty + ${i}u) / G;
    let visible = select(i32(p.n), clamp(i32(pos) + p.shift + 1, 0, i32(p.n)), p.causal != 0u);
    lim.${cs[i]} = select(0u, u32(visible), pos < p.m); }`).join('\n  ')}
  let last = min(qt * BQ + BQ, p.m) - 1u;
  let kEnd = select(p.n, u32(clamp(i32(last) + p.shift + 1, 0, i32(p.n))), p.causal != 0u);
  var m = vec4f(${softmax ? 'NEG' : '0.0'});
  var l = vec4f(0.0);
  var used = vec4u(0u);
  var scored = vec4u(0u);
  var acc = array<vec4f, ${RT * VU}>();
  // Global words of the next Q, K and V chunks (see fetchQK, fetchV).
  var qw: array<vec4f, ${4 * QI}>;
  var kw: array<${word}, ${4 * KI}>;
  var vw: array<${word}, ${VI}>;
  // This split's run of the visible key tiles: [t0, tiles).
  let per = ((kEnd + BK - 1u) / BK + ${S - 1}u) / ${S}u; let t0 = split * per;
  let tiles = min((kEnd + BK - 1u) / BK, t0 + per);
  var t = ${sparse ? 'nextLive(z, qt, t0, tiles)' : 't0'};
  loop {
    if (t >= tiles) { break; }
    let k0 = t * BK;
    scored += min(vec4u(BK), max(lim, vec4u(k0)) - vec4u(k0));
    // Scores of rows 4·ty + i (s[i]) and keys k0 + tx + TX·j (component j), scale folded into Q.
    var s = array<vec4f, ${RT}>(); // explicitly zeroed (a loop-local var must not keep old values)
    ${prefetch ? fetchQK('0u') : ''}
    for (var d0 = 0u; d0 < ${D}u; d0 += ${DC}u) {
      ${prefetch ? '' : fetchQK('d0')}
      ${storeQK}
      ${prefetch ? `if (d0 + ${DC}u < ${D}u) {
        ${fetchQK(`(d0 + ${DC}u)`)}
      }` : ''}
      for (var dd = 0u; dd < ${DC}u; dd += 4u) {
        let qs = ty ^ ((dd / 4u) % TY); let ks = tx ^ ((dd / ${DW}u) % TX);
        ${scoreStep}
      }
    }
    ${prefetch ? fetchV('0u') : ''}
    let keys = vec4u(k0 + tx) + vec4u(0u, TX, 2u * TX, 3u * TX);
    var top: vec4f;
    ${rows.map((i) => `let ok${i} = keys < vec4u(lim.${cs[i]});`).join(' ')}
    ${softmax
    ? rows.map((i) => `s[${i}] = select(vec4f(NEG), s[${i}], ok${i}); top.${cs[i]} = max(max(s[${i}].x, s[${i}].y), max(s[${i}].z, s[${i}].w));`).join('\n    ')
    : `// ReLU^α in scaled form (docs/kernels.md "Online state layout"): m is each row's largest
    // t = ReLU(score − bias) so far and weights are (t / m)^α ≤ 1, so t^α never overflows.
    ${rows.map((i) => `s[${i}] = select(vec4f(0.0), max(s[${i}] - p.bias, vec4f(0.0)), ok${i}); top.${cs[i]} = max(max(s[${i}].x, s[${i}].y), max(s[${i}].z, s[${i}].w));
    used.${cs[i]} += dot(vec4u(s[${i}] > vec4f(0.0)), vec4u(1u));`).join('\n    ')}`}
    // Each row's maximum over the tile: every thread's 4 partial maxima through the region.
    workgroupBarrier();
    sm[tx * TY + ty] = top;
    workgroupBarrier();
    for (var x = 0u; x < TX; x++) { top = max(top, sm[x * TY + ty]); }
    let mx = max(m, top);
    ${softmax ? `let corr = exp(m - mx);
    m = mx;
    ${rows.map((i) => `s[${i}] = select(vec4f(0.0), exp(s[${i}] - mx.${cs[i]}), ok${i});`).join(' ')}`
    : `let inv = select(vec4f(0.0), 1.0 / mx, mx > vec4f(0.0));
    let corr = select(vec4f(1.0), pw(m * inv), mx > vec4f(0.0));
    m = mx;
    ${rows.map((i) => `s[${i}] = pw(s[${i}] * inv.${cs[i]});`).join(' ')}`}
    l = l * corr + vec4f(${rows.map((i) => `dot(s[${i}], vec4f(1.0))`).join(', ')});
    ${rows.map((i) => us.map((u) => `acc[${i * VU + u}] *= corr.${cs[i]};`).join(' ')).join('\n    ')}
    ${cs.map((c, j) => `{ let kl = tx + ${TX * j}u; ps[kl * TY + (ty ^ (kl % TY))] = vec4f(s[0].${c}, s[1].${c}, s[2].${c}, s[3].${c}); }`).join('\n    ')}
    for (var kc = 0u; kc < BK; kc += ${KC}u) {
      ${prefetch ? '' : fetchV('kc')}
      ${storeV}
      ${prefetch ? `if (kc + ${KC}u < BK) {
        ${fetchV(`(kc + ${KC}u)`)}
      }` : ''}
      for (var k = 0u; k < ${KC}u; k++) {
        let kl = kc + k; let pv = ps[kl * TY + (ty ^ (kl % TY))];
        ${us.map((u) => `{ let v = sm[k * ${DV4}u + tx + ${TX * u}u]; ${rows.map((i) => `acc[${i * VU + u}] += pv.${cs[i]} * v;`).join(' ')} }`).join('\n        ')}
      }
    }
    t = ${sparse ? 'nextLive(z, qt, t + 1u, tiles)' : 't + 1u'};
  }
  // Fold the rows' partial sums and counts across their TX threads.
  workgroupBarrier();
  sm[tx * TY + ty] = l;
  sm[${TY * TX}u + tx * TY + ty] = bitcast<vec4f>(used);
  workgroupBarrier();
  var lt = vec4f(0.0);
  var ut = vec4u(0u);
  for (var x = 0u; x < TX; x++) { lt += sm[x * TY + ty]; ut += bitcast<vec4u>(sm[${TY * TX}u + x * TY + ty]); }
  ${S > 1
    ? `// The rows' partial states, unnormalized; their merge weight's log is m (softmax) or α·ln m
  // (ReLU^α in scaled form: the split's weights are (t / m)^α).
  let mu = ${softmax ? 'm' : `select(vec4f(NEG), ${alpha}.0 * log(m), m > vec4f(0.0))`};
  ${rows.map((i) => `{ let r = 4u * ty + ${i}u; let pos = qt * BQ + r / G;
    if (pos < p.m) {
      let at = (((head0 + r % G) * p.m + pos) * ${S}u + split) * ${DV4 + 1}u;
      ${us.map((u) => `if (tx + ${TX * u}u < ${DV4}u) { part[at + 1u + tx + ${TX * u}u] = acc[${i * VU + u}]; }`).join(' ')}
      if (tx == 0u) { part[at] = vec4f(mu.${cs[i]}, lt.${cs[i]}, bitcast<f32>(scored.${cs[i]}), bitcast<f32>(${softmax ? `scored.${cs[i]}` : `ut.${cs[i]}`})); }
    } }`).join('\n  ')}`
    : `let inv = select(vec4f(0.0), 1.0 / lt, lt > vec4f(0.0));
  ${rows.map((i) => `{ let r = 4u * ty + ${i}u; let pos = qt * BQ + r / G;
    if (pos < p.m) {
      let row = (head0 + r % G) * p.m + pos;
      ${us.map((u) => `if (tx + ${TX * u}u < ${DV4}u) { out[row * ${DV4}u + tx + ${TX * u}u] = acc[${i * VU + u}] * inv.${cs[i]}; }`).join(' ')}
      if (tx == 0u) { rowCount[row] = vec2u(scored.${cs[i]}, ${softmax ? `scored.${cs[i]}` : `ut.${cs[i]}`}); }
    } }`).join('\n  ')}`}
}`;
}

/**
 * Key splits' merge: thread = (row, output quad c) of p.rows; out = Σ e^{μ_s − M} acc_s /
 * Σ e^{μ_s − M} l_s over the row's S states (μ: the state's log weight, M the largest among states
 * with l > 0; zeros where none), and the row's counts summed (quad 0). Dispatch (⌈rows·DV/4 / WG⌉, 1).
 */
export function prefillMergeSource(DV: number, S: number): string {
  const DV4 = DV / 4;
  return /* wgsl */ `
const NEG = ${NEG};
${PREFILL_PARAMS}
@group(0) @binding(0) var<storage, read> part: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> rowCount: array<vec2u>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x / ${DV4}u; let c = gid.x % ${DV4}u;
  if (row >= p.rows) { return; }
  var M = NEG;
  for (var s = 0u; s < ${S}u; s++) { let st = part[(row * ${S}u + s) * ${DV4 + 1}u]; if (st.y > 0.0) { M = max(M, st.x); } }
  var x = vec4f(0.0); var L = 0.0; var counts = vec2u(0u);
  for (var s = 0u; s < ${S}u; s++) {
    let at = (row * ${S}u + s) * ${DV4 + 1}u; let st = part[at];
    let f = select(0.0, exp(st.x - M), st.y > 0.0);
    x += f * part[at + 1u + c]; L += f * st.y;
    counts += bitcast<vec2u>(st.zw);
  }
  out[row * ${DV4}u + c] = select(vec4f(0.0), x / L, L > 0.0);
  if (c == 0u) { rowCount[row] = counts; }
}`;
}

/**
 * Exact sparse ReLU, the mask pass: thread = one key of a block of WG keys, holding its codes; it
 * walks the query tile's positions from the last (causal: the first invisible one ends the walk) and
 * stops at the first row whose certified upper bound exceeds the bias, marking the key's tile, or
 * as soon as another key has marked it. Dispatch (⌈n / WG⌉, qTiles·kvHeads·sub); blocks past a tile's visible keys
 * exit at once.
 */
export function maskSource(D: number, G: number, BQ: number, BK: number): string {
  const CW = D / 16;
  return /* wgsl */ `
const WG = ${WG}u; const G = ${G}u; const BQ = ${BQ}u; const BK = ${BK}u; const CW = ${CW}u;
${PREFILL_PARAMS}
@group(0) @binding(0) var<storage, read> codes: array<vec4u>;
@group(0) @binding(1) var<storage, read> keyMeta: array<vec4f>;
@group(0) @binding(2) var<storage, read> qcode: array<vec4u>;
@group(0) @binding(3) var<storage, read> coef: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> mask: array<u32>;
var<workgroup> live: array<atomic<u32>, ${WG / BK}>;
${BOUND_FNS}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let qt = wid.y % p.qTiles; let z = wid.y / p.qTiles;
  let kvh = z / p.sub; let head0 = kvh * p.groupSize + (z % p.sub) * G;
  let last = min(qt * BQ + BQ, p.m) - 1u;
  let kEnd = select(p.n, u32(clamp(i32(last) + p.shift + 1, 0, i32(p.n))), p.causal != 0u);
  if (wid.x * WG >= kEnd) { return; }
  let j = wid.x * WG + lid;
  var hit = false;
  if (j < kEnd) {
    var c: array<vec4u, CW>;
    for (var i = 0u; i < CW; i++) { c[i] = codes[(kvh * p.cap + j) * CW + i]; }
    let mt = keyMeta[kvh * p.cap + j];
    for (var pp = BQ; pp > 0u; pp--) {
      let pos = qt * BQ + pp - 1u;
      if (pos >= p.m) { continue; }
      if (p.causal != 0u && i32(j) > i32(pos) + p.shift) { break; }
      for (var h = 0u; h < G; h++) {
        let row = (head0 + h) * p.m + pos;
        var o = 0;
        for (var i = 0u; i < CW; i++) { o += codeDot(c[i], qcode[row * 2u * CW + i], qcode[row * 2u * CW + CW + i]); }
        let cf = coef[row];
        let est = boundEst(cf, mt, o);
        if (est + boundWidth(cf, mt, est) > p.bias) { hit = true; }
      }
      if (hit) { atomicOr(&live[lid / BK], 1u); break; }
      // A tile one key has marked needs no more rows from any of its keys: only unmarked tiles
      // (the ones the attention pass will skip) pay for every row.
      if (atomicLoad(&live[lid / BK]) != 0u) { break; }
    }
  }
  workgroupBarrier();
  let tile = wid.x * (WG / BK) + lid;
  if (lid < WG / BK && tile < p.kTiles) { mask[(z * p.qTiles + qt) * p.kTiles + tile] = atomicLoad(&live[lid]); }
}`;
}
