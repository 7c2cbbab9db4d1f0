// How tight certified logit bounds from per-key codes are, by code width (CPU, float64): the
// question behind a cheaper first filter for the GPU's sparse decode (docs/webgpu.md "Speed").
// For the 'llm' synthetic workload (8 query / 2 KV heads, d = 128, one query) and code levels L
// (127: int8, 7: 4-bit), each key is coded c = round(k/s), s = max|k_i|/L, and bounded by
// scale·s·⟨c, q⟩ ± scale·‖q‖·‖k − s·c‖ (the query exact: the narrowest such bound). Reports the mean
// half-width in nats and, for ReLU biases leaving `activation` of the logits positive, how many
// keys a head's bound lets through against the keys of positive weight.
//
//   node --import tsx bench/code-widths.ts [--n 65536] [--levels 127,7] [--activations 0.03,0.01] [--out file.json]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { syntheticWorkload } from './lib/keys.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '65536' }, levels: { type: 'string', default: '127,7' },
  activations: { type: 'string', default: '0.03,0.01' }, out: { type: 'string' },
} });
const n = Number(a.n), levels = a.levels!.split(',').map(Number), activations = a.activations!.split(',').map(Number);
const w = syntheticWorkload('llm', n, 128, 8, 2, 1), d = w.d, q = w.queries[0]!, scale = 1 / Math.sqrt(d), group = w.heads / w.kvHeads;

const logits = Array.from({ length: w.heads }, (_, h) => {
  const k = w.keyHeads[Math.floor(h / group)]!, out = new Float64Array(n);
  for (let j = 0; j < n; j++) { let x = 0; for (let i = 0; i < d; i++) x += q[h * d + i]! * k[j * d + i]!; out[j] = x * scale; }
  return out;
});
const rows: Record<string, unknown>[] = [];
for (const L of levels) {
  // Per head and key: the bound's centre and half-width.
  const est = logits.map(() => new Float64Array(n)), half = logits.map(() => new Float64Array(n));
  for (let h = 0; h < w.heads; h++) {
    const k = w.keyHeads[Math.floor(h / group)]!;
    let qn = 0;
    for (let i = 0; i < d; i++) qn += q[h * d + i]! ** 2;
    qn = Math.sqrt(qn);
    for (let j = 0; j < n; j++) {
      let amax = 0;
      for (let i = 0; i < d; i++) amax = Math.max(amax, Math.abs(k[j * d + i]!));
      const s = amax / L;
      let o = 0, e2 = 0;
      for (let i = 0; i < d; i++) {
        const x = k[j * d + i]!, c = s > 0 ? Math.round(x / s) : 0;
        o += c * q[h * d + i]!; e2 += (x - s * c) ** 2;
      }
      est[h]![j] = scale * s * o; half[h]![j] = scale * qn * Math.sqrt(e2);
    }
  }
  let sum = 0;
  for (const x of half) for (const v of x) sum += v;
  const row: Record<string, unknown> = { levels: L, meanHalfWidthNats: sum / (w.heads * n) };
  for (const act of activations) {
    const all = logits.flatMap((x) => Array.from(x)).sort((x, y) => y - x), bias = all[Math.floor(act * all.length)]!;
    let through = 0, positive = 0;
    for (let h = 0; h < w.heads; h++) for (let j = 0; j < n; j++) { if (est[h]![j]! + half[h]![j]! > bias) through++; if (logits[h]![j]! > bias) positive++; }
    row[`relu-${act}.positivePerHead`] = positive / w.heads;
    row[`relu-${act}.candidatesPerHead`] = through / w.heads;
    row[`relu-${act}.candidatesOverPositive`] = through / positive;
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}
if (a.out) writeFileSync(a.out, JSON.stringify({ bench: 'code-widths', workload: 'llm (8 query / 2 KV heads, d = 128)', n, node: process.version, rows }, null, 2) + '\n');
