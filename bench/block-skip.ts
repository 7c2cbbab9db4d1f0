/**
 * Could a certified first pass skip blocks of keys before the per-key sweep? For blocks of B
 * consecutive keys (pages, as a KV cache stores them) and two per-block bounds on ⟨q, k⟩ over the
 * block — the box Σ_j max(q_j·min_j, q_j·max_j) of per-channel min/max, and the ball
 * ⟨q, c⟩ + ‖q‖·r of the centroid c and radius r — the share of blocks whose bound (as a scaled
 * logit) stays below the row's threshold, i.e. blocks a first pass over n/B entries could skip,
 * against the share of blocks that hold a key above the threshold (what an oracle must keep).
 * Threshold: the ReLU bias for real-relu and LLM-like ReLU, else top − 10 nats (keys below carry
 * < e^−10 of the top key's weight each: certified rows at ε ≥ 1e-3 never need them at n ≤ 1M only
 * if few enough of them exist). Exact float64 arithmetic (an upper bound on what any certified
 * rounding allowance leaves); no timing: if the bounds skip nothing, no pass built on them can win.
 *
 *   npm run bench bench/block-skip.ts -- [--queries 4] [--llm 8192,65536,262144] [--out bench/results/block-skip.json]
 */
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 4);
const LLM = (args.get('llm') ?? '8192,65536').split(',').filter((x) => x !== '').map(Number);
const OUT = args.get('out') ?? 'bench/results/block-skip.json';
const BLOCKS = [16, 64, 256];

const cases: [string, Workload, 'relu' | 'softmax'][] = [];
for (const kind of ['real-relu', 'real'] as const) {
  const w = realWorkload(kind, R);
  if (w) cases.push([`${kind} n=${w.n}`, w, kind === 'real-relu' ? 'relu' : 'softmax']); else console.log(`${kind}: dump not found, skipped`);
}
for (const n of LLM) {
  const w = syntheticWorkload('llm', n, 128, 8, 2, R);
  cases.push([`llm n=${n} d=128 (softmax)`, w, 'softmax'], [`llm n=${n} d=128 (ReLU)`, w, 'relu']);
}

const rows: Record<string, unknown>[] = [];
for (const [label, w, kind] of cases) {
  const { n, d, heads, kvHeads } = w, group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  // Per KV head and block size: per-channel min/max, centroid and radius of every block.
  const stats = w.keyHeads.map((K) => BLOCKS.map((B) => {
    const blocks = Math.ceil(n / B), lo = new Float64Array(blocks * d).fill(Infinity), hi = new Float64Array(blocks * d).fill(-Infinity);
    const c = new Float64Array(blocks * d), r = new Float64Array(blocks);
    for (let i = 0; i < n; i++) {
      const b = Math.floor(i / B);
      for (let j = 0; j < d; j++) { const x = K[i * d + j]!; lo[b * d + j] = Math.min(lo[b * d + j]!, x); hi[b * d + j] = Math.max(hi[b * d + j]!, x); c[b * d + j] += x; }
    }
    for (let b = 0; b < blocks; b++) for (let j = 0; j < d; j++) c[b * d + j] /= Math.min(B, n - b * B);
    for (let i = 0; i < n; i++) {
      const b = Math.floor(i / B);
      let s = 0;
      for (let j = 0; j < d; j++) s += (K[i * d + j]! - c[b * d + j]!) ** 2;
      r[b] = Math.max(r[b]!, Math.sqrt(s));
    }
    return { B, blocks, lo, hi, c, r };
  }));
  const acc = BLOCKS.map(() => ({ box: 0, ball: 0, needed: 0, total: 0 }));
  for (const q of w.queries) for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), K = w.keyHeads[g]!, qh = q.subarray(h * d, (h + 1) * d);
    const logits = new Float64Array(n);
    let top = -Infinity, qn = 0;
    for (let j = 0; j < d; j++) qn += qh[j]! ** 2;
    qn = Math.sqrt(qn);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += qh[j]! * K[i * d + j]!;
      logits[i] = s * scale; top = Math.max(top, logits[i]!);
    }
    const t = kind === 'relu' ? w.relu.bias : top - 10;
    BLOCKS.forEach((B, bi) => {
      const st = stats[g]![bi]!, a = acc[bi]!;
      for (let b = 0; b < st.blocks; b++) {
        let box = 0, qc = 0;
        for (let j = 0; j < d; j++) {
          box += Math.max(qh[j]! * st.lo[b * d + j]!, qh[j]! * st.hi[b * d + j]!);
          qc += qh[j]! * st.c[b * d + j]!;
        }
        let any = false;
        for (let i = b * B; i < Math.min(n, (b + 1) * B); i++) if (logits[i]! >= t) { any = true; break; }
        a.total++;
        if (box * scale < t) a.box++;
        if ((qc + qn * st.r[b]!) * scale < t) a.ball++;
        if (any) a.needed++;
      }
    });
  }
  BLOCKS.forEach((B, bi) => {
    const a = acc[bi]!;
    rows.push({ workload: label, B, boxSkips: a.box / a.total, ballSkips: a.ball / a.total, oracleKeeps: a.needed / a.total });
  });
}
const pct = (x: unknown) => `${(100 * (x as number)).toFixed(1)} %`;
console.log(table(['workload', 'block B', 'box bound skips', 'ball bound skips', 'blocks holding a key above t'],
  rows.map((r) => [r['workload'] as string, r['B'] as number, pct(r['boxSkips']), pct(r['ballSkips']), pct(r['oracleKeeps'])])));
writeJson(OUT, { queries: R, blocks: BLOCKS, rows });
