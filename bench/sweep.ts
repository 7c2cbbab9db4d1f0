/**
 * The quantized index's sweep, old against fused (wasm backend, one grouped-query group of m heads
 * against n keys, codes and per-key arrays resident in kernel memory):
 *   (a) old         scoreBlockI8I16 + m × boundsFromDots per 2048-key chunk, float64 per-key arrays
 *                   (as src/hsr/quantized.ts did before the fused kernels)
 *   (b) bounds      sweepBoundsI8 (upper and centre for all m·n), one call per group of ≤ 4 heads
 *   (b') rows       sweepBoundsRows: the same bounds for all m rows in one call (the prefill tile's
 *                   int8 matrix product, codes blocked so each block is fetched once for all m)
 *   (c) candidates  sweepCandidatesI8 with t_j at the 98th percentile of head j's upper (~2 %)
 *   (d) histogram   gapHistogram over one head's n uppers (64 buckets of width 1/4)
 *   (e) select      selectBuckets of the buckets holding the top ~10 % of that head
 *   (f) dense       attendRange over the same n keys with float32 K and V (d = dv): the yardstick
 * m = 16 is a prefill tile's rows. Gaussian keys and queries (the codes' values do not change the time). Alternating rounds, medians;
 * a first pass of rounds is discarded so that every kernel runs optimised (V8 tiers wasm up lazily).
 *
 * Then certified selection at the settings SweptBounds uses (W = 16 buckets per nat, B = 768), one
 * head of n = 8192 uppers spread like logits (σ = 3 nats) and flat (σ = 0.5: every key within a few
 * nats of the top, the real dump's case): gapHistogram and selectBuckets of the top ~15 % — and the
 * sparse fold of 1200 gathered ids at d = dv = 64: attendIds against scoreIds + accumulateIds.
 * --before DIR adds the same selection calls on an older checkout's kernels (DIR/src, e.g.
 * `git archive HEAD src | tar -x -C DIR`) in the same alternating rounds.
 *
 *   node --import tsx bench/sweep.ts [--rounds 41] [--before DIR] [--out bench/results/sweep.json]
 */
import type { Kernels } from '../src/kernels/types.js';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { alternateRounds, median, rng, table, timeMs, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const ROUNDS = Number(args.get('rounds') ?? 41);
const OUT = args.get('out') ?? 'bench/results/sweep.json';
const CHUNK = 2048, Q16 = 13, BUCKETS = 64, INV_WIDTH = 4;

const rows: (string | number)[][] = [];
const json: Record<string, unknown>[] = [];
for (const [n, d, m] of [[8192, 64, 3], [8192, 64, 16], [65536, 128, 4]] as const) {
  const k = createWasmKernels({ initialPages: 2048 }); // 128 MiB: nothing grows while views are held
  const r = rng(n + d);
  const f32 = (len: number) => k.allocF32(len).view();
  const heapView = <T extends Int16Array | Int32Array | Uint32Array>(make: (b: ArrayBufferLike, at: number, len: number) => T, len: number): T => {
    const v = f32(Math.ceil(len / 2) * 2);
    return make(v.buffer, v.byteOffset, len);
  };
  const codes = k.allocI8(n * d).view();
  for (let i = 0; i < codes.length; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(r.gauss() * 40)));
  const q16 = heapView((b, a, l) => new Int16Array(b, a, l), m * d);
  for (let i = 0; i < q16.length; i++) q16[i] = Math.max(-16384, Math.min(16384, Math.round(r.gauss() * 4000)));
  const scales = f32(n), slacks = f32(n), codeNorms = f32(n);
  for (let i = 0; i < n; i++) { scales[i] = 0.01 * (1 + r.uniform()); slacks[i] = 0.004 * r.uniform(); codeNorms[i] = 0.05 * r.uniform(); }
  const coef = f32(4 * m);
  // a_j puts the centres at a standard deviation of ≈ 2 (logit-like spread: a mix of near and far buckets).
  for (let j = 0; j < m; j++) coef.set([2 ** -Q16 * 1.25 * Math.sqrt(64 / d), 1, 1e-3, 0], 4 * j);
  const upper = f32(m * n), centre = f32(m * n);
  const ids = heapView((b, a, l) => new Uint32Array(b, a, l), m * n), counts = heapView((b, a, l) => new Int32Array(b, a, l), m);
  const hCounts = heapView((b, a, l) => new Int32Array(b, a, l), 4 * BUCKETS); // 4·B: gapHistogram's scratch
  // The old path's state: int32 dots in kernel memory, float64 per-key arrays and bounds in JS.
  const dots = heapView((b, a, l) => new Int32Array(b, a, l), m * CHUNK);
  const s64 = Float64Array.from(scales), l64 = Float64Array.from(slacks), c64 = Float64Array.from(codeNorms);
  const up = Array.from({ length: m }, () => new Float64Array(n)), lo = Array.from({ length: m }, () => new Float64Array(n));
  const K = f32(n * d), V = f32(n * d), Q = f32(m * d), states = f32(m * (d + 2));
  for (const a of [K, V, Q]) for (let i = 0; i < a.length; i++) a[i] = r.gauss();
  const softmax = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 } as const;

  // t_j: the 98th percentile of head j's uppers; the selection: buckets 0..b covering ~10 % of head 0.
  // sweepBoundsI8 and sweepCandidatesI8 take ≤ 4 heads a call: larger m goes in groups of 4.
  const groups = (f: (j: number, g: number) => void) => { for (let j = 0; j < m; j += 4) f(j, Math.min(4, m - j)); };
  const bounds = () => groups((j, g) => k.sweepBoundsI8(q16.subarray(j * d, (j + g) * d), g, codes, scales, slacks, codeNorms, 0, n, d,
    coef.subarray(4 * j, 4 * (j + g)), upper.subarray(j * n, (j + g) * n), centre.subarray(j * n, (j + g) * n)));
  const candidates = () => groups((j, g) => k.sweepCandidatesI8(q16.subarray(j * d, (j + g) * d), g, codes, scales, slacks, codeNorms, 0, n,
    d, coef.subarray(4 * j, 4 * (j + g)), ids.subarray(j * n, (j + g) * n), counts.subarray(j, j + g)));
  bounds();
  for (let j = 0; j < m; j++) coef[4 * j + 3] = [...upper.subarray(j * n, (j + 1) * n)].sort((x, y) => y - x)[Math.floor(0.02 * n)]!;
  const top = k.gapHistogram(upper, n, INV_WIDTH, BUCKETS, hCounts);
  let to = 0;
  for (let seen = hCounts[0]!; seen < 0.1 * n && to < BUCKETS - 1;) seen += hCounts[++to]!;

  const contenders = {
    old: () => {
      for (let start = 0; start < n; start += CHUNK) {
        const count = Math.min(CHUNK, n - start);
        k.scoreBlockI8I16(q16, m, codes.subarray(start * d, (start + count) * d), 0, count, d, dots);
        for (let j = 0; j < m; j++) {
          k.boundsFromDots(dots.subarray(j * count, (j + 1) * count), count, Q16, s64, l64, c64, start, 0.125, 1, 1e-3, up[j]!, lo[j]!);
        }
      }
    },
    bounds,
    rows: () => k.sweepBoundsRows(q16, m, codes, scales, slacks, codeNorms, 0, n, d, coef, upper, centre, n),
    candidates,
    histogram: () => { k.gapHistogram(upper, n, INV_WIDTH, BUCKETS, hCounts); },
    select: () => { k.selectBuckets(upper, n, top, INV_WIDTH, BUCKETS, 0, to, 0, ids); },
    dense: () => {
      for (let j = 0; j < m; j++) { states.fill(0, j * (d + 2), j * (d + 2) + d); states[j * (d + 2) + d] = -Infinity; states[j * (d + 2) + d + 1] = 0; }
      k.attendRange(Q, m, K, V, 0, n, d, d, softmax, states);
    },
  };
  alternateRounds(contenders, 5);
  const ms = alternateRounds(contenders, ROUNDS);
  candidates();
  const candidateShare = [...counts].reduce((s, c) => s + c, 0) / (m * n);
  const selected = k.selectBuckets(upper, n, top, INV_WIDTH, BUCKETS, 0, to, 0, ids) / n;
  for (const [part, t] of Object.entries(ms)) {
    const note = part === 'candidates' ? `${(100 * candidateShare).toFixed(1)} % candidates` : part === 'select' ? `${(100 * selected).toFixed(1)} % selected` : '';
    rows.push([`n=${n} d=${d} m=${m}`, part, t * 1000, t / ms.dense!, t / ms.old!, note]);
    json.push({ n, d, m, part, us: t * 1000, ofDense: t / ms.dense!, ofOld: t / ms.old!, candidateShare, selectedShare: selected });
  }
}
console.log(table(['case', 'part', 'µs / call', '× dense (f)', '× old (a)', 'note'], rows));

// ---- certified selection (W = 16, B = 768) and the sparse fold, per call, REPS calls per sample
const SEL_N = 8192, SEL_W = 16, SEL_B = 768, REPS = 20, IDS = 1200, D = 64;
const BEFORE = args.get('before');
type Make = (o?: { initialPages: number }) => Kernels;
const makers: [string, Make][] = [['new', (o) => createWasmKernels(o)]];
if (BEFORE) {
  const old = (await import(`${BEFORE}/src/kernels/wasm/wasm-kernels.js`)) as { createWasmKernels: Make };
  makers.push(['old', (o) => old.createWasmKernels(o)]);
}
const selRows: (string | number)[][] = [];
const selJson: Record<string, unknown>[] = [];
const repeat = (f: () => void) => () => { for (let t = 0; t < REPS; t++) f(); };
const sel: Record<string, () => void> = {};
const notes: Record<string, string> = {};
for (const [tag, make] of makers) {
  const k = make({ initialPages: 256 });
  for (const [spread, sigma] of [['σ=3', 3], ['flat', 0.5]] as const) {
    const r = rng(7 + sigma);
    const upper = k.allocF32(SEL_N).view();
    for (let i = 0; i < SEL_N; i++) upper[i] = r.gauss() * sigma;
    const hv = k.allocF32(4 * SEL_B).view(), counts = new Int32Array(hv.buffer, hv.byteOffset, 4 * SEL_B);
    const iv = k.allocF32(SEL_N + 4).view(), ids = new Uint32Array(iv.buffer, iv.byteOffset, SEL_N + 4);
    const top = k.gapHistogram(upper, SEL_N, SEL_W, SEL_B, counts);
    let to = 0;
    for (let seen = counts[0]!; seen < 0.15 * SEL_N && to < SEL_B - 1;) seen += counts[++to]!;
    sel[`${tag} histogram ${spread}`] = repeat(() => { k.gapHistogram(upper, SEL_N, SEL_W, SEL_B, counts); });
    sel[`${tag} select ${spread}`] = repeat(() => { k.selectBuckets(upper, SEL_N, top, SEL_W, SEL_B, 0, to, 0, ids); });
    const near = counts.subarray(0, SEL_B).reduce((a, c, b) => (b < 15 * SEL_W ? a + c : a), 0) / SEL_N;
    notes[`${tag} histogram ${spread}`] = `${(100 * near).toFixed(0)} % within 15 nats`;
    notes[`${tag} select ${spread}`] = `${(100 * k.selectBuckets(upper, SEL_N, top, SEL_W, SEL_B, 0, to, 0, ids) / SEL_N).toFixed(1)} % selected`;
  }
  const r = rng(99);
  const K = k.allocF32(SEL_N * D).view(), V = k.allocF32(SEL_N * D).view(), q = k.allocF32(D).view();
  for (const a of [K, V, q]) for (let i = 0; i < a.length; i++) a[i] = r.gauss();
  const iv = k.allocF32(IDS).view(), ids = new Uint32Array(iv.buffer, iv.byteOffset, IDS);
  for (let i = 0; i < IDS; i++) ids[i] = Math.floor(r.uniform() * SEL_N);
  ids.sort();
  const dots = k.allocF32(IDS).view(), state = k.allocF32(D + 2).view();
  const w = { kind: 'softmax', scale: 1 / Math.sqrt(D), bias: 0, alpha: 1 } as const;
  const fresh = () => { state.fill(0); state[D] = -Infinity; };
  // (an old checkout may predate attendIds: then only its two-call path is timed)
  if (typeof k.attendIds === 'function') sel[`${tag} attendIds`] = repeat(() => { fresh(); k.attendIds(q, K, V, ids, IDS, D, D, w, state); });
  sel[`${tag} scoreIds + accumulateIds`] = repeat(() => {
    fresh(); k.scoreIds(q, K, ids, IDS, D, dots); k.accumulateIds(state, dots, IDS, w, V, ids, D);
  });
  notes[`${tag} attendIds`] = notes[`${tag} scoreIds + accumulateIds`] = `${IDS} sorted random ids of ${SEL_N}, d = dv = ${D}`;
}
// Each sample is preceded by one untimed call of the same contender: the two instances' K/V
// (4 MB each) evict each other, and without the warm call whichever contender ran first after
// the other instance paid for it (a 10–30 % order effect on the gathered folds).
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(sel).map((n) => [n, []]));
for (let r = 0; r < ROUNDS + 5; r++) {
  for (const [name, f] of Object.entries(sel)) { f(); if (r >= 5) samples[name]!.push(timeMs(f)); }
}
const selMs = Object.fromEntries(Object.entries(samples).map(([n, t]) => [n, median(t)]));
for (const [part, t] of Object.entries(selMs)) {
  selRows.push([part, (t * 1000) / REPS, notes[part] ?? '']);
  selJson.push({ part, us: (t * 1000) / REPS, note: notes[part] ?? '' });
}
console.log(table([`W = ${SEL_W}, B = ${SEL_B}, n = ${SEL_N}`, 'µs / call', 'note'], selRows));
writeJson(OUT, { rounds: ROUNDS, results: json, selection: selJson });
