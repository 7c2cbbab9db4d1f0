/**
 * Relaxed-SIMD kernels against the SIMD 1.0 ones (wasm backend, inputs resident in kernel memory),
 * per kernel the relaxed build changes — columns SIMD 1.0 ('wasm-simd'), relaxed
 * ('wasm-relaxed-simd': FMA, int16 sweep) and relaxed q7 ('wasm-relaxed-simd-q7': the sweep on
 * 7-bit queries with i32x4.relaxed_dot_i8x16_i7x16_add_s):
 *   bounds      sweepBoundsI8 over n keys for one grouped-query group of m heads
 *   candidates  sweepCandidatesI8, t_j at the 98th percentile of head j's bound (~2 % candidates)
 *   dense       attendRange over the n keys (float32 K and V, d = dv): FMA in the dots and value sums
 *   gathered    attendIds over 1200 sorted random ids of the n keys (one query)
 * Gaussian keys and queries. Alternating rounds (both builds in every round), medians, a first
 * pass of rounds discarded so every kernel runs optimised. Where relaxed SIMD is not usable (Node
 * 20) only the SIMD 1.0 column is measured.
 *
 *   npm run bench bench/relaxed.ts -- [--rounds 31] [--out bench/results/relaxed.json]
 */
import type { Kernels } from '../src/kernels/types.js';
import { relaxedSimdUsable } from '../src/kernels/wasm/relaxed.js';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { alternateRounds, rng, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const ROUNDS = Number(args.get('rounds') ?? 31);
const OUT = args.get('out') ?? 'bench/results/relaxed.json';
const IDS = 1200;

const builds: [string, Kernels][] = [['simd', createWasmKernels({ initialPages: 4096 })]];
if (relaxedSimdUsable()) {
  builds.push(['relaxed', createWasmKernels({ initialPages: 4096, relaxed: true })]);
  builds.push(['q7', createWasmKernels({ initialPages: 4096, relaxed: true, sweepQueryBits: 7 })]);
}

const rows: (string | number)[][] = [];
const json: Record<string, unknown>[] = [];
for (const [n, d, m] of [[8192, 64, 3], [65536, 128, 4]] as const) {
  const contenders: Record<string, () => void> = {};
  for (const [tag, k] of builds) {
    const r = rng(n + d); // the same data in both builds
    const f32 = (len: number) => k.allocF32(len).view();
    const view = <T>(make: (b: ArrayBufferLike, at: number, len: number) => T, len: number): T => {
      const v = f32(Math.ceil(len / 2) * 2);
      return make(v.buffer, v.byteOffset, len);
    };
    const codes = k.allocI8(n * d).view();
    for (let i = 0; i < codes.length; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(r.gauss() * 40)));
    // The query at the build's precision (Kernels.sweepQueryShift), from the same Gaussian q' (|q'| < 2).
    const s = k.sweepQueryShift, q16 = view((b, a, l) => new Int16Array(b, a, l), m * d);
    for (let i = 0; i < q16.length; i++) q16[i] = Math.max(-(2 ** (s + 1)), Math.min(2 ** (s + 1) - 1, Math.round(Math.max(-1.99, Math.min(1.99, r.gauss() * 0.5)) * 2 ** s)));
    const scales = f32(n), slacks = f32(n), codeNorms = f32(n);
    for (let i = 0; i < n; i++) { scales[i] = 0.01 * (1 + r.uniform()); slacks[i] = 0.004 * r.uniform(); codeNorms[i] = 0.05 * r.uniform(); }
    const coef = f32(4 * m);
    for (let j = 0; j < m; j++) coef.set([2 ** -s * 1.25 * Math.sqrt(64 / d), 1, 1e-3, 0], 4 * j);
    const upper = f32(m * n), centre = f32(m * n);
    const ids = view((b, a, l) => new Uint32Array(b, a, l), m * n), counts = view((b, a, l) => new Int32Array(b, a, l), m);
    k.sweepBoundsI8(q16, m, codes, scales, slacks, codeNorms, 0, n, d, coef, upper, centre);
    for (let j = 0; j < m; j++) coef[4 * j + 3] = [...upper.subarray(j * n, (j + 1) * n)].sort((x, y) => y - x)[Math.floor(0.02 * n)]!;
    const K = f32(n * d), V = f32(n * d), Q = f32(m * d), states = f32(m * (d + 2));
    for (const a of [K, V, Q]) for (let i = 0; i < a.length; i++) a[i] = r.gauss();
    const gathered = view((b, a, l) => new Uint32Array(b, a, l), IDS);
    for (let i = 0; i < IDS; i++) gathered[i] = Math.floor(r.uniform() * n);
    gathered.sort();
    const softmax = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 } as const;
    const reset = (count: number) => {
      for (let j = 0; j < count; j++) { states.fill(0, j * (d + 2), j * (d + 2) + d); states[j * (d + 2) + d] = -Infinity; states[j * (d + 2) + d + 1] = 0; }
    };
    contenders[`${tag} bounds`] = () => k.sweepBoundsI8(q16, m, codes, scales, slacks, codeNorms, 0, n, d, coef, upper, centre);
    contenders[`${tag} candidates`] = () => k.sweepCandidatesI8(q16, m, codes, scales, slacks, codeNorms, 0, n, d, coef, ids, counts);
    if (tag === 'q7') continue; // the float kernels are the relaxed build's
    contenders[`${tag} dense`] = () => { reset(m); k.attendRange(Q, m, K, V, 0, n, d, d, softmax, states); };
    contenders[`${tag} gathered`] = () => { reset(1); k.attendIds(Q, K, V, gathered, IDS, d, d, softmax, states); };
  }
  alternateRounds(contenders, 5);
  const ms = alternateRounds(contenders, ROUNDS);
  for (const part of ['bounds', 'candidates', 'dense', 'gathered']) {
    const simd = ms[`simd ${part}`]!, relaxed = ms[`relaxed ${part}`], q7 = ms[`q7 ${part}`];
    const us = (t: number | undefined) => (t === undefined ? '—' : t * 1000), x = (t: number | undefined) => (t === undefined ? '—' : simd / t);
    rows.push([`n=${n} d=${d} m=${m}`, part, simd * 1000, us(relaxed), x(relaxed), us(q7), x(q7)]);
    json.push({ n, d, m, part, simdUs: simd * 1000, relaxedUs: relaxed === undefined ? null : relaxed * 1000,
      q7Us: q7 === undefined ? null : q7 * 1000, relaxedSpeedup: relaxed === undefined ? null : simd / relaxed,
      q7Speedup: q7 === undefined ? null : simd / q7 });
  }
}
console.log(`Node ${process.version}; relaxed SIMD ${relaxedSimdUsable() ? 'usable' : 'not usable'}; medians of ${ROUNDS} alternating rounds`);
console.log(table(['case', 'kernel', 'SIMD 1.0 µs', 'relaxed µs', '× SIMD 1.0', 'relaxed q7 µs', '× SIMD 1.0'], rows));
writeJson(OUT, { rounds: ROUNDS, relaxedUsable: relaxedSimdUsable(), rows: json });
