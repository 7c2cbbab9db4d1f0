/**
 * WGSL sources of the WebGPU decode kernels (docs/webgpu.md). Each generator bakes its shape into
 * constants, so one pipeline serves one (dims, group, storage, weighting) combination.
 *
 * Layouts (all row-major, dims padded with zeros to D / DV, multiples of 16 / 8):
 *   K, V   [kvHeads, cap, D|DV]  f32 (array<vec4f>) or f16 packed two per u32 (array<vec4u>, 8 a vec4u)
 *   codes  [kvHeads, cap, D/4]   int8 key codes, four per u32 (dot4I8Packed)
 *   meta   [kvHeads, cap]        vec4f (s, R, N, 0): key ≈ s·c, R ≥ ‖k − s·c‖, N ≥ ‖k‖ (quantize.ts)
 *   Q      [heads, D]            f32 queries
 *   qcode  [heads, 2, D/4]       the query's int8 parts hi, lo (q̂ = 128·hi + lo) for dot4I8Packed
 *   coef   [heads]               vec4f (A, E1, E2, 0): logit bounds A·s·o ± (E1·R + E2·N) (quantize.ts)
 *   part   [heads, splits, DV+4] one split's softmax state: m, l, 0, 0, acc[DV]
 * Only core WGSL (no shader-f16: the H100's Dawn lacks it; unpack2x16float is core).
 */

/** Threads per workgroup: SwiftShader's limit (maxComputeInvocationsPerWorkgroup = 256). */
export const WG = 256;
/** Certified mode: buckets of 1/8 nat below the reference logit (the CPU's, certified.ts). */
export const BUCKETS = 384;
/** Below every logit: an "empty" max that exp() turns into 0 without NaN. */
const NEG = '-3.0e38';

export type Storage = 'f32' | 'f16';
export type Weighting = 'softmax' | 'relu';

export interface AttendShape {
  D: number; DV: number;
  /** Query heads one workgroup serves (dense: a divisor of the group size; gathered: 1). */
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
}

/** Keys per tile: G·TK scores live in workgroup memory (≤ 1024 floats keeps it under 16 KiB). */
export function tileKeys(G: number): number {
  let tk = WG;
  while (tk > 1 && G * tk > 1024) tk >>= 1;
  return tk;
}

const rowVec = (s: Storage, dim: number) => (s === 'f16' ? dim / 8 : dim / 4);
const vecType = (s: Storage) => (s === 'f16' ? 'vec4u' : 'vec4f');

/**
 * Split-KV attention (Flash-Decoding): workgroup (split, y) attends its query heads to a range of
 * keys — contiguous [split·chunk, …) for dense rows, positions of the head's id list for gathered
 * ones — tile by tile with an online softmax, and writes one partial state per head; `mergeSource`
 * combines the splits by log-sum-exp. Each K and V row is read once per workgroup for all its heads.
 */
export function attendSource(x: AttendShape): string {
  const { D, DV, G, storage, weighting, alpha, gather, layout = 'contiguous' } = x;
  const TK = tileKeys(G);
  const P = G * DV / 4;                       // accumulator quads (head, 4 value dims)
  const R = P <= WG ? Math.floor(WG / P) : 1;  // replicas: threads sharing a quad over different keys
  const A = Math.ceil(P / WG);                 // quads per thread when P > WG
  const KR = rowVec(storage, D), VR = rowVec(storage, DV);
  // The value loop takes U keys per step (independent loads in flight); a weight of 0 (a key past
  // the range, whose kid is a stale but valid row) still multiplies a finite row.
  const U = [4, 2, 1].find((u) => TK % (u * R) === 0) ?? 1;
  const unrolled = Array.from({ length: U }, (_, u) => `let w${u} = sc[h * TK + k + ${u}u * R]; let v${u} = loadV(kid[k + ${u}u * R], c);`).join('\n            ')
    + `\n            x += ${Array.from({ length: U }, (_, u) => `w${u} * v${u}`).join(' + ')}; lsum[a] += ${Array.from({ length: U }, (_, u) => `w${u}`).join(' + ')};`;
  const softmax = weighting === 'softmax';
  const dotRow = storage === 'f16'
    ? `for (var i = 0u; i < ${KR}u; i++) {
          let k = K[kb + i];
          let k0 = vec4f(unpack2x16float(k.x), unpack2x16float(k.y));
          let k1 = vec4f(unpack2x16float(k.z), unpack2x16float(k.w));
          for (var h = 0u; h < G; h++) { s[h] += dot(k0, qs[h * QV + 2u * i]) + dot(k1, qs[h * QV + 2u * i + 1u]); }
        }`
    : `for (var i = 0u; i < ${KR}u; i++) {
          let k = K[kb + i];
          for (var h = 0u; h < G; h++) { s[h] += dot(k, qs[h * QV + i]); }
        }`;
  const loadV = storage === 'f16'
    ? `fn loadV(row: u32, c: u32) -> vec4f { let v = V[row * ${DV / 4}u + c]; return vec4f(unpack2x16float(v.x), unpack2x16float(v.y)); }`
    : `fn loadV(row: u32, c: u32) -> vec4f { return V[row * ${VR}u + c]; }`;
  const power = (e: string) => (alpha === 1 ? e : Array.from({ length: alpha }, () => e).join(' * '));
  return /* wgsl */ `
const WG = ${WG}u; const TK = ${TK}u; const G = ${G}u; const QV = ${D / 4}u; const DQ = ${DV / 4}u;
const P = ${P}u; const R = ${R}u; const A = ${A}u; const NEG = ${NEG};
struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }
@group(0) @binding(0) var<storage, read> K: array<${vecType(storage)}>;
@group(0) @binding(1) var<storage, read> V: array<${storage === 'f16' ? 'vec2u' : 'vec4f'}>; // one quad of values an element
@group(0) @binding(2) var<storage, read> Q: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
${gather ? `@group(0) @binding(5) var<storage, read> ids: array<u32>;
@group(0) @binding(6) var<storage, read> counts: array<u32>;` : ''}
${typeof layout === 'object' ? '@group(0) @binding(9) var<storage, read> pages: array<u32>;' : ''}
fn rowOf(kvh: u32, key: u32) -> u32 { return ${typeof layout === 'object'
    ? `(pages[key / ${layout.pageSize}u] * ${layout.kvHeads}u + kvh) * ${layout.pageSize}u + key % ${layout.pageSize}u`
    : 'kvh * p.cap + key'}; }
${softmax ? '' : `@group(0) @binding(${gather ? 7 : 5}) var<storage, read_write> used: array<atomic<u32>>;
var<workgroup> usedHere: atomic<u32>;`}
var<workgroup> qs: array<vec4f, ${G * D / 4}>;
var<workgroup> sc: array<f32, ${G * TK}>;
var<workgroup> red: array<f32, ${Math.max(G * TK, 5 * WG)}>;
var<workgroup> kid: array<u32, TK>; // the tile's rows (absolute: rowOf)
var<workgroup> range: vec2u;
${loadV}
${softmax ? '' : `fn relu(x: f32) -> f32 { let t = max(x, 0.0); return ${power('t')}; }`}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let split = wid.x;
  // Query heads of this workgroup: dense — G heads of KV head kvh; gathered — one head.
  ${gather
    ? `let head0 = wid.y; let kvh = wid.y / p.groupSize;`
    : `let kvh = wid.y / p.sub; let head0 = kvh * p.groupSize + (wid.y % p.sub) * G;`}
  for (var i = lid; i < G * QV; i += WG) { qs[i] = Q[head0 * QV + i]; }
  if (lid == 0u) {
    ${gather
      ? `let count = counts[head0]; let chunk = (count + p.splits - 1u) / p.splits;
    range = vec2u(min(split * chunk, count), min(split * chunk + chunk, count));`
      : `range = vec2u(min(split * p.chunk, p.n), min(split * p.chunk + p.chunk, p.n));`}
    ${softmax ? '' : 'atomicStore(&usedHere, 0u);'}
  }
  let r = workgroupUniformLoad(&range);
  // Accumulators: quad a·WG + lid % P of replica lid / P.
  let rep = select(0u, lid / P, P <= WG);
  let live = rep < R;
  var acc: array<vec4f, A>;
  var lsum: array<f32, A>;
  var mr: array<f32, G>;
  for (var h = 0u; h < G; h++) { mr[h] = ${softmax ? 'NEG' : '0.0'}; }
  for (var t0 = r.x; t0 < r.y; t0 += TK) {
    // Scores: thread lid scores key t0 + lid for every head of the workgroup.
    let pos = t0 + lid;
    if (lid < TK) {
      // Explicitly zeroed: Dawn kept the previous tile's sums in a bare \`var\` declared in the loop.
      var s = array<f32, G>();
      if (pos < r.y) {
        let key = ${gather ? 'ids[head0 * p.cap + pos]' : 'pos'};
        let row = rowOf(kvh, key);
        kid[lid] = row;
        let kb = row * ${KR}u;
        ${dotRow}
        for (var h = 0u; h < G; h++) {
          let x = s[h] * p.scale;
          ${softmax ? 'sc[h * TK + lid] = x;' : 'let w = relu(x - p.bias); sc[h * TK + lid] = w; if (w > 0.0) { atomicAdd(&usedHere, 1u); }'}
        }
      } else {
        for (var h = 0u; h < G; h++) { sc[h * TK + lid] = ${softmax ? 'NEG' : '0.0'}; }
      }
    }
    workgroupBarrier();
    var corr: array<f32, G>;
    for (var h = 0u; h < G; h++) { corr[h] = 1.0; }
    ${softmax ? `
    // Tile maximum per head (tree over TK), then weights e^{s − m} in place.
    if (lid < TK) { for (var h = 0u; h < G; h++) { red[h * TK + lid] = sc[h * TK + lid]; } }
    for (var stride = TK / 2u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (lid < stride) { for (var h = 0u; h < G; h++) { red[h * TK + lid] = max(red[h * TK + lid], red[h * TK + lid + stride]); } }
    }
    workgroupBarrier();
    var mNew: array<f32, G>;
    for (var h = 0u; h < G; h++) { mNew[h] = max(mr[h], red[h * TK]); corr[h] = exp(mr[h] - mNew[h]); mr[h] = mNew[h]; }
    if (lid < TK) {
      for (var h = 0u; h < G; h++) { sc[h * TK + lid] = select(0.0, exp(sc[h * TK + lid] - mNew[h]), pos < r.y); }
    }
    workgroupBarrier();` : ''}
    // Values: each live thread adds its keys' weighted rows.
    if (live) {
      for (var a = 0u; a < A; a++) {
        let quad = a * WG + lid % P;
        if (quad < P) {
          let h = quad / DQ; let c = quad % DQ;
          var ch = 1.0;
          for (var g = 0u; g < G; g++) { if (g == h) { ch = corr[g]; } } // no dynamic index into a private array
          var x = acc[a] * ch;
          lsum[a] *= ch;
          for (var k = rep; k < TK; k += ${U}u * R) {
            ${unrolled}
          }
          acc[a] = x;
        }
      }
    }
    workgroupBarrier();
  }
  // Replicas combine through workgroup memory, then one state per head goes out.
  if (R > 1u) {
    if (live) { red[5u * lid] = acc[0].x; red[5u * lid + 1u] = acc[0].y; red[5u * lid + 2u] = acc[0].z; red[5u * lid + 3u] = acc[0].w; red[5u * lid + 4u] = lsum[0]; }
    workgroupBarrier();
    if (lid < P) {
      for (var q = 1u; q < R; q++) {
        let o = 5u * (q * P + lid);
        acc[0] += vec4f(red[o], red[o + 1u], red[o + 2u], red[o + 3u]); lsum[0] += red[o + 4u];
      }
    }
  }
  for (var a = 0u; a < A; a++) {
    let quad = a * WG + lid;
    if (quad < P) {
      let h = quad / DQ; let c = quad % DQ;
      let base = ((head0 + h) * p.splits + split) * (DQ + 1u);
      part[base + 1u + c] = acc[a];
      if (c == 0u) { part[base] = vec4f(mr[h], lsum[a], 0.0, 0.0); }
    }
  }
  ${softmax ? '' : `workgroupBarrier();
  if (lid == 0u) { let u = atomicLoad(&usedHere); if (u > 0u) { atomicAdd(&used[head0], u); } }`}
}`;
}

/**
 * Log-sum-exp merge of the splits' states: out[h] = Σ e^{m_s − M} acc_s / Σ e^{m_s − M} l_s, zeros
 * where no key had weight; summary[h] = (M, L) with L = Σ e^{m_s − M} l_s (certified mode's W).
 */
export function mergeSource(DV: number): string {
  const DQ = DV / 4, CQ = Math.min(DQ, WG), LANES = Math.floor(WG / CQ);
  // Thread (quad c, lane) sums the splits ≡ lane (mod LANES) for quad c; lanes then add up in
  // workgroup memory. The max over splits is a tree over the workgroup first.
  return /* wgsl */ `
const WG = ${WG}u; const DQ = ${DQ}u; const CQ = ${CQ}u; const LANES = ${LANES}u; const NEG = ${NEG};
struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }
@group(0) @binding(0) var<storage, read> part: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> summary: array<vec2f>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> red: array<f32, WG>;
var<workgroup> accs: array<vec4f, WG>;
var<workgroup> ls: array<f32, WG>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  var m = NEG;
  for (var s = lid; s < p.splits; s += WG) { let st = part[(h * p.splits + s) * (DQ + 1u)]; if (st.y > 0.0) { m = max(m, st.x); } }
  red[lid] = m;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = max(red[lid], red[lid + stride]); }
  }
  workgroupBarrier();
  let M = red[0];
  let lane = lid / CQ;
  for (var c0 = 0u; c0 < DQ; c0 += CQ) {
    let c = c0 + lid % CQ;
    var x = vec4f(0.0); var L = 0.0;
    if (c < DQ && lane < LANES) {
      for (var s = lane; s < p.splits; s += LANES) {
        let base = (h * p.splits + s) * (DQ + 1u);
        let st = part[base];
        if (st.y > 0.0) { let f = exp(st.x - M); x += f * part[base + 1u + c]; L += f * st.y; }
      }
    }
    accs[lid] = x; ls[lid] = L;
    workgroupBarrier();
    if (lane == 0u && c < DQ) {
      for (var q = 1u; q < LANES; q++) { x += accs[q * CQ + lid]; L += ls[q * CQ + lid]; }
      out[h * DQ + c] = select(vec4f(0.0), x / L, L > 0.0);
      if (c == 0u) { summary[h] = vec2f(M, L); }
    }
    workgroupBarrier();
  }
}`;
}

/** Orderable u32 of an f32 (atomicMax on floats) and back. */
const ORDER = /* wgsl */ `
fn toOrdered(f: f32) -> u32 { let u = bitcast<u32>(f); return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u); }
fn fromOrdered(u: u32) -> f32 { return bitcast<f32>(select(~u, u & 0x7fffffffu, (u & 0x80000000u) != 0u)); }`;

/**
 * Per-key certified logit bounds from the int8 codes, one thread per key, every head of the KV
 * group: o = ⟨c, q̂⟩ exactly in int32 (two dot4I8Packed per word: q̂ = 128·hi + lo), then
 * est = A·s·o, width = (E1·R + E2·N + |est|·2⁻²⁰)·(1 + 2⁻²⁰) + 1e-30 (quantize.ts derives why
 * est ± width brackets the real logit, float32 rounding included).
 * - 'relu': keys whose upper bound exceeds the bias are appended to the head's id list.
 * - 'certified': up/lo go to [heads, cap] arrays and the head's max upper bound to m0 (ordered u32).
 */
export function boundsSource(D: number, group: number, mode: 'relu' | 'certified'): string {
  const W = D / 4;
  return /* wgsl */ `
const WG = ${WG}u; const W = ${W}u; const GS = ${group}u;
struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }
@group(0) @binding(0) var<storage, read> codes: array<vec4u>;
@group(0) @binding(1) var<storage, read> keyMeta: array<vec4f>;
@group(0) @binding(2) var<storage, read> qcode: array<vec4u>;
@group(0) @binding(3) var<storage, read> coef: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;
${mode === 'relu' ? `@group(0) @binding(5) var<storage, read_write> ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
var<workgroup> localCount: array<atomic<u32>, GS>;
var<workgroup> localBase: array<u32, GS>;`
    : `@group(0) @binding(5) var<storage, read_write> up: array<f32>;
@group(0) @binding(6) var<storage, read_write> lo: array<f32>;
@group(0) @binding(7) var<storage, read_write> m0: array<atomic<u32>>;
var<workgroup> localMax: array<atomic<u32>, GS>;`}
${ORDER}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let kvh = wid.y;
  let j = wid.x * WG + lid;
  let valid = j < p.n;
  let row = kvh * p.cap + min(j, p.n - 1u);
  var o: array<i32, GS>;
  for (var i = 0u; i < W / 4u; i++) {
    let c = codes[row * (W / 4u) + i];
    for (var h = 0u; h < GS; h++) {
      let qb = (kvh * GS + h) * (W / 2u);
      let hi = qcode[qb + i]; let lw = qcode[qb + W / 4u + i];
      o[h] += 128 * (dot4I8Packed(c.x, hi.x) + dot4I8Packed(c.y, hi.y) + dot4I8Packed(c.z, hi.z) + dot4I8Packed(c.w, hi.w))
        + dot4I8Packed(c.x, lw.x) + dot4I8Packed(c.y, lw.y) + dot4I8Packed(c.z, lw.z) + dot4I8Packed(c.w, lw.w);
    }
  }
  let mt = keyMeta[row];
  ${mode === 'relu' ? `var pos: array<u32, GS>;
  var take: array<bool, GS>;` : ''}
  for (var h = 0u; h < GS; h++) {
    let head = kvh * GS + h;
    let cf = coef[head];
    let est = cf.x * mt.x * f32(o[h]);
    let width = (cf.y * mt.y + cf.z * mt.z + abs(est) * 9.5367431640625e-7) * 1.00000095367431640625 + 1e-30;
    ${mode === 'relu'
      ? `take[h] = valid && est + width > p.bias;
    if (take[h]) { pos[h] = atomicAdd(&localCount[h], 1u); }`
      : `if (valid) { up[head * p.cap + j] = est + width; lo[head * p.cap + j] = est - width; atomicMax(&localMax[h], toOrdered(est + width)); }`}
  }
  workgroupBarrier();
  ${mode === 'relu'
    ? `if (lid < GS) { let c = atomicLoad(&localCount[lid]); localBase[lid] = select(0u, atomicAdd(&counts[kvh * GS + lid], c), c > 0u); }
  workgroupBarrier();
  for (var h = 0u; h < GS; h++) { if (take[h]) { ids[(kvh * GS + h) * p.cap + localBase[h] + pos[h]] = j; } }`
    : `for (var h = lid; h < GS; h += WG) { atomicMax(&m0[kvh * GS + h], atomicLoad(&localMax[h])); }`}
}`;
}

/** Bucket of a key's upper bound (gap rounded down) and of its lower bound (gap rounded up), as certified.ts. */
const BUCKET_OF = /* wgsl */ `
fn bucketUp(m0: f32, u: f32) -> u32 { let g = max((m0 - u) * 0.99999976158142089844, 0.0); return u32(min(floor(g * 8.0), ${BUCKETS - 1}.0)); }
fn bucketLo(m0: f32, l: f32) -> u32 { let g = (m0 - l) * 1.00000023841857910156; return u32(min(floor(g * 8.0), ${BUCKETS - 1}.0)); }`;

/** Certified mode, pass 2: per head, counts of keys by upper-bound gap and by lower-bound gap below m0. */
export function histogramSource(): string {
  return /* wgsl */ `
const WG = ${WG}u; const B = ${BUCKETS}u;
struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }
@group(0) @binding(0) var<storage, read> up: array<f32>;
@group(0) @binding(1) var<storage, read> lo: array<f32>;
@group(0) @binding(2) var<storage, read> m0: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> hu: array<atomic<u32>, B>;
var<workgroup> hl: array<atomic<u32>, B>;
${ORDER}
${BUCKET_OF}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let head = wid.y; let j = wid.x * WG + lid;
  let m = fromOrdered(m0[head]);
  if (j < p.n) {
    atomicAdd(&hu[bucketUp(m, up[head * p.cap + j])], 1u);
    atomicAdd(&hl[bucketLo(m, lo[head * p.cap + j])], 1u);
  }
  workgroupBarrier();
  for (var b = lid; b < B; b += WG) {
    let u = atomicLoad(&hu[b]); if (u > 0u) { atomicAdd(&hist[head * 2u * B + b], u); }
    let l = atomicLoad(&hl[b]); if (l > 0u) { atomicAdd(&hist[head * 2u * B + B + b], l); }
  }
}`;
}

/**
 * Certified mode, pass 3 (one thread per head): the smallest cut bucket c ≥ 1 with
 * U(c) ≤ ratio·L(c), U(c) = Σ_{b ≥ c} countUp_b·e^{−bΔ} (rounded up: bounds the skipped keys' mass
 * relative to m0) and L(c) = Σ_{b < c} countLo_b·e^{−(b+1)Δ} (rounded down: bounds from below the
 * mass of keys every one of which the cut keeps); ratio = ε/(1 − ε) rounded down. c = B keeps
 * every key (U = 0). cut[h] = (c, U(c), L(c), m0) — edges: e^{−bΔ} rounded up, e^{−(b+1)Δ} down.
 */
export function cutSource(): string {
  return /* wgsl */ `
const B = ${BUCKETS}u;
struct CutParams { heads: u32, ratio: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read> edges: array<f32>;
@group(0) @binding(2) var<storage, read> m0: array<u32>;
@group(0) @binding(3) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(4) var<uniform> p: CutParams;
${ORDER}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var h = lid; h < p.heads; h += 64u) {
    var suffix: array<f32, ${BUCKETS + 1}>;
    suffix[B] = 0.0;
    for (var b = B; b > 0u; b--) { suffix[b - 1u] = suffix[b] + f32(hist[h * 2u * B + b - 1u]) * edges[b - 1u]; }
    var L = 0.0; var c = B; var U = 0.0;
    for (var b = 1u; b <= B; b++) {
      if (b < B) { L += f32(hist[h * 2u * B + B + b - 1u]) * edges[B + b - 1u]; }
      let u = suffix[b] * 1.0001; let l = L * 0.9999;
      if (b == B || u <= p.ratio * l) { c = b; U = select(u, 0.0, b == B); L = l; break; }
    }
    cut[h] = vec4f(bitcast<f32>(c), U, L, fromOrdered(m0[h]));
  }
}`;
}

/** Certified mode, pass 4: appends to the head's id list every key whose upper-gap bucket is below the cut. */
export function compactSource(): string {
  return /* wgsl */ `
const WG = ${WG}u;
struct Params { n: u32, chunk: u32, splits: u32, cap: u32, scale: f32, bias: f32, groupSize: u32, sub: u32 }
@group(0) @binding(0) var<storage, read> up: array<f32>;
@group(0) @binding(1) var<storage, read> cut: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> localCount: atomic<u32>;
var<workgroup> localBase: u32;
${BUCKET_OF}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let head = wid.y; let j = wid.x * WG + lid;
  let ct = cut[head];
  let take = j < p.n && bucketUp(ct.w, up[head * p.cap + min(j, p.n - 1u)]) < bitcast<u32>(ct.x);
  var pos = 0u;
  if (take) { pos = atomicAdd(&localCount, 1u); }
  workgroupBarrier();
  if (lid == 0u) { let c = atomicLoad(&localCount); localBase = select(0u, atomicAdd(&counts[head], c), c > 0u); }
  workgroupBarrier();
  if (take) { ids[head * p.cap + localBase + pos] = j; }
}`;
}
