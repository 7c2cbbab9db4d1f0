/**
 * WGSL of causal prefill on WebGPU (FlashAttention-style): a workgroup owns a query tile — BQ
 * positions × G query heads of one KV group, 64 rows — and walks the key tiles its rows can see,
 * BK keys at a time through workgroup memory; every row keeps its own online softmax (or ReLU^α
 * state) in registers, so nothing is merged afterwards.
 * - 16 teams of T lanes (T threads of one subgroup; T = 1 without subgroups): a team owns RT = 4
 *   rows (PT = 4/G positions × G heads), lane i holds 8·KU dims of each row's query and 8·VU dims
 *   of its accumulator; a key's partial dot products meet by a butterfly of subgroupShuffleXor, so
 *   every lane has the same score (as in attend-kernel.ts, which does this for one decode query).
 * - Key tiles past the tile's last visible key are never visited (causal); inside the diagonal
 *   tile each row masks keys j > i + n − m. Query tiles are dispatched heaviest first.
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

/** Teams of a workgroup and rows a team owns: 64 query rows a tile. */
const NT = 16;
const RT = 4;
/** Keys a team scores per step (independent loads in flight, one rescale per step). */
const B = 4;

/** The prefill passes' uniform, as prefill.ts writes it. */
export const PREFILL_PARAMS = /* wgsl */ `struct Params { m: u32, n: u32, shift: i32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32,
  qTiles: u32, kTiles: u32, causal: u32, pad: u32 }`;
export const PREFILL_PARAMS_BYTES = 48;

export interface PrefillShape {
  D: number; DV: number;
  /** Query heads of one KV group a workgroup serves: 1, 2 or 4. */
  G: number;
  /** Lanes per row (attend-kernel.ts lanesFor). */
  T: number;
  /** Keys per tile ({@link keyTile}). */
  BK: number;
  storage: Storage;
  weighting: Weighting;
  alpha: number;
  /** Skip the key tiles the mask pass left unmarked (exact sparse ReLU). */
  sparse: boolean;
}

/** Positions of a query tile for G heads a workgroup. */
export function queryTile(G: number): number {
  return (NT * RT) / G;
}

/** Heads of a KV group one workgroup serves: the largest of 4, 2, 1 dividing the group. */
export function headsPerTile(group: number): number {
  return group % 4 === 0 ? 4 : group % 2 === 0 ? 2 : 1;
}

/**
 * Keys per tile: the largest power of two ≤ 64 whose K and V rows fit `limit` bytes of workgroup
 * memory; 0 when not even B keys fit (the head is too wide for this device).
 */
export function keyTile(D: number, DV: number, storage: Storage, limit: number): number {
  const bytes = (D + DV) * (storage === 'f16' ? 2 : 4);
  let bk = 64;
  while (bk >= B && bk * bytes > limit) bk /= 2;
  return bk >= B ? bk : 0;
}

/** The attention pass. Dispatch (qTiles, kvHeads·sub); G·PT rows per team, 16·T threads. */
export function prefillSource(x: PrefillShape): string {
  const { D, DV, G, T, BK, storage, weighting, alpha, sparse } = x;
  const PT = RT / G, BQ = queryTile(G), KU = D / (8 * T), VU = DV / (8 * T);
  const f16 = storage === 'f16';
  const word = f16 ? 'vec4u' : 'vec4f';
  // Words of a K / V row in the tiles: vec4u of 8 f16 dims, or vec4f of 4 f32 dims.
  const KROW = f16 ? D / 8 : D / 4, VROW = f16 ? DV / 8 : DV / 4;
  const softmax = weighting === 'softmax';
  // Unit u (8 dims) of this lane's slice of tile row `kr` as two f32 quads.
  const unit = (tile: 'kt' | 'vt', U: string, ROW: number) => (f16
    ? `let w = ${tile}[kr * ${ROW}u + lane * ${U} + u]; let a0 = vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); let a1 = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));`
    : `let e = kr * ${ROW}u + 2u * (lane * ${U} + u); let a0 = ${tile}[e]; let a1 = ${tile}[e + 1u];`);
  const power = (e: string) => (alpha === 1 ? e : Array.from({ length: alpha }, () => e).join(' * '));
  const wSum = Array.from({ length: B }, (_, b) => `w[${b}]`).join(' + ');
  const wv = Array.from({ length: B }, (_, b) => `w[${b}] * v[${2 * b}u * VU + i]`).join(' + ');
  // Words of the K and V tiles each thread fetches.
  const KW = Math.ceil((BK * KROW) / (NT * T)), VW = Math.ceil((BK * VROW) / (NT * T));
  const fetch = (tile: string) => `for (var i = 0u; i < ${KW}u; i++) {
      let w = lid + i * ${NT * T}u; let j = ${tile} * BK + w / ${KROW}u;
      pk[i] = select(${word}(0), K[(kvh * p.cap + min(j, p.n - 1u)) * ${KROW}u + w % ${KROW}u], j < p.n && w < ${BK * KROW}u);
    }
    for (var i = 0u; i < ${VW}u; i++) {
      let w = lid + i * ${NT * T}u; let j = ${tile} * BK + w / ${VROW}u;
      pv[i] = select(${word}(0), V[(kvh * p.cap + min(j, p.n - 1u)) * ${VROW}u + w % ${VROW}u], j < p.n && w < ${BK * VROW}u);
    }`;
  const butterfly = Array.from({ length: Math.log2(T) }, (_, i) => `s[j] += subgroupShuffleXor(s[j], ${T >> (i + 1)}u);`).join(' ');
  return /* wgsl */ `${T > 1 ? 'enable subgroups;' : ''}
const T = ${T}u; const NT = ${NT}u; const B = ${B}u; const G = ${G}u; const PT = ${PT}u; const RT = ${RT}u; const BQ = ${BQ}u;
const BK = ${BK}u; const KU = ${KU}u; const VU = ${VU}u; const NEG = ${NEG};
${PREFILL_PARAMS}
@group(0) @binding(0) var<storage, read> K: array<${word}>;
@group(0) @binding(1) var<storage, read> V: array<${word}>;
@group(0) @binding(2) var<storage, read> Q: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> rowCount: array<vec2u>;
${sparse ? '@group(0) @binding(6) var<storage, read> mask: array<u32>;' : ''}
var<workgroup> kt: array<${word}, ${BK * KROW}>;
var<workgroup> vt: array<${word}, ${BK * VROW}>;
${softmax ? '' : `fn pw(x: f32) -> f32 { return ${power('x')}; }`}
${sparse ? `// The first tile at or after t that the mask pass marked (tiles if none).
fn nextLive(z: u32, qt: u32, t: u32, tiles: u32) -> u32 {
  var u = t;
  while (u < tiles && mask[(z * p.qTiles + qt) * p.kTiles + u] == 0u) { u++; }
  return u;
}` : ''}

@compute @workgroup_size(${NT * T})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let qt = p.qTiles - 1u - wid.x; // heaviest (latest) tiles first: they start while light ones fill in
  let kvh = wid.y / p.sub; let head0 = kvh * p.groupSize + (wid.y % p.sub) * G;
  let lane = lid % T; let team = lid / T;
  let pos0 = qt * BQ + team * PT;
  // Keys visible to this team's positions, and to the whole tile (its last position).
  var lim: array<u32, PT>;
  for (var pp = 0u; pp < PT; pp++) {
    let visible = select(i32(p.n), clamp(i32(pos0 + pp) + p.shift + 1, 0, i32(p.n)), p.causal != 0u);
    lim[pp] = select(0u, u32(visible), pos0 + pp < p.m);
  }
  let last = min(qt * BQ + BQ, p.m) - 1u;
  let kEnd = select(p.n, u32(clamp(i32(last) + p.shift + 1, 0, i32(p.n))), p.causal != 0u);
  // This lane's slice of each row's query (scale folded in); row r = position pp·G + head h.
  var q: array<vec4f, ${RT * 2 * KU}>;
  for (var r = 0u; r < RT; r++) {
    let pos = min(pos0 + r / G, p.m - 1u);
    for (var i = 0u; i < 2u * KU; i++) { q[r * 2u * KU + i] = p.scale * Q[((head0 + r % G) * p.m + pos) * ${D / 4}u + lane * 2u * KU + i]; }
  }
  var m: array<f32, RT>;
  var l: array<f32, RT>;
  var used: array<u32, RT>;
  var scored: array<u32, PT>;
  var acc: array<vec4f, ${RT * 2 * VU}>;
  for (var r = 0u; r < RT; r++) { m[r] = ${softmax ? 'NEG' : '0.0'}; l[r] = 0.0; used[r] = 0u; }
  for (var i = 0u; i < ${RT * 2 * VU}u; i++) { acc[i] = vec4f(0.0); }
  for (var pp = 0u; pp < PT; pp++) { scored[pp] = 0u; }
  let tiles = (kEnd + BK - 1u) / BK;
  // The next tile's K and V words are fetched into registers while this one is scored, so the
  // global loads' latency hides behind the arithmetic (one workgroup a multiprocessor has no other
  // to switch to); at the top of a tile they go to workgroup memory.
  var pk: array<${word}, ${KW}>;
  var pv: array<${word}, ${VW}>;
  var t = ${sparse ? 'nextLive(wid.y, qt, 0u, tiles)' : '0u'};
  ${fetch('t')}
  loop {
    if (t >= tiles) { break; }
    let k0 = t * BK;
    workgroupBarrier(); // the previous tile's reads are done
    for (var i = 0u; i < ${KW}u; i++) { let w = lid + i * ${NT * T}u; if (w < ${BK * KROW}u) { kt[w] = pk[i]; } }
    for (var i = 0u; i < ${VW}u; i++) { let w = lid + i * ${NT * T}u; if (w < ${BK * VROW}u) { vt[w] = pv[i]; } }
    workgroupBarrier();
    let next = ${sparse ? 'nextLive(wid.y, qt, t + 1u, tiles)' : 't + 1u'};
    if (next < tiles) {
      ${fetch('next')}
    }
    for (var pp = 0u; pp < PT; pp++) { scored[pp] += min(BK, max(lim[pp], k0) - k0); }
    for (var b0 = 0u; b0 < BK; b0 += B) {
      var s = array<f32, ${RT * B}>(); // explicitly zeroed (a loop-local var must not keep old values)
      var v: array<vec4f, ${B * 2 * VU}>;
      for (var b = 0u; b < B; b++) {
        let kr = b0 + b;
        for (var u = 0u; u < KU; u++) {
          ${unit('kt', 'KU', KROW)}
          for (var r = 0u; r < RT; r++) { s[r * B + b] += dot(a0, q[r * 2u * KU + 2u * u]) + dot(a1, q[r * 2u * KU + 2u * u + 1u]); }
        }
        for (var u = 0u; u < VU; u++) {
          ${unit('vt', 'VU', VROW)}
          v[b * 2u * VU + 2u * u] = a0; v[b * 2u * VU + 2u * u + 1u] = a1;
        }
      }
      ${T > 1 ? `for (var j = 0u; j < ${RT * B}u; j++) { ${butterfly} }` : ''}
      for (var r = 0u; r < RT; r++) {
        var ok: array<bool, B>;
        for (var b = 0u; b < B; b++) { ok[b] = k0 + b0 + b < lim[r / G]; }
        ${softmax ? `var mx = m[r];
        for (var b = 0u; b < B; b++) { if (ok[b]) { mx = max(mx, s[r * B + b]); } }
        let corr = exp(m[r] - mx);
        m[r] = mx;
        var w: array<f32, B>;
        for (var b = 0u; b < B; b++) { w[b] = select(0.0, exp(s[r * B + b] - mx), ok[b]); }`
    : `// ReLU^α in scaled form (docs/kernels.md "Online state layout"): m[r] is the largest
        // t = ReLU(score − bias) so far and weights are (t / m)^α ≤ 1, so t^α never overflows.
        var tt: array<f32, B>;
        var mx = m[r];
        for (var b = 0u; b < B; b++) {
          tt[b] = select(0.0, max(s[r * B + b] - p.bias, 0.0), ok[b]);
          mx = max(mx, tt[b]);
          if (tt[b] > 0.0) { used[r] += 1u; }
        }
        let inv = select(0.0, 1.0 / mx, mx > 0.0);
        let corr = select(1.0, pw(m[r] * inv), mx > 0.0);
        m[r] = mx;
        var w: array<f32, B>;
        for (var b = 0u; b < B; b++) { w[b] = pw(tt[b] * inv); }`}
        l[r] = l[r] * corr + ${wSum};
        for (var i = 0u; i < 2u * VU; i++) {
          acc[r * 2u * VU + i] = acc[r * 2u * VU + i] * corr + ${wv};
        }
      }
    }
    t = next;
  }
  for (var r = 0u; r < RT; r++) {
    let pos = pos0 + r / G;
    if (pos >= p.m) { continue; }
    let row = (head0 + r % G) * p.m + pos;
    let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
    for (var i = 0u; i < 2u * VU; i++) { out[row * ${DV / 4}u + lane * 2u * VU + i] = acc[r * 2u * VU + i] * inv; }
    if (lane == 0u) { rowCount[row] = vec2u(scored[r / G], ${softmax ? 'scored[r / G]' : 'used[r]'}); }
  }
}`;
}

/**
 * Exact sparse ReLU, the mask pass: thread = one key of a block of WG keys, holding its codes; it
 * walks the query tile's positions from the last (causal: the first invisible one ends the walk) and
 * stops at the first row whose certified upper bound exceeds the bias, marking the key's tile, or
 * as soon as another key has marked it. Dispatch (⌈n / WG⌉, qTiles·kvHeads·sub); blocks past a tile's visible keys
 * exit at once.
 */
export function maskSource(D: number, G: number, BK: number): string {
  const BQ = queryTile(G), CW = D / 16;
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
