/**
 * Markdown tables for docs/model.md from bench/model-attention.json (one table per model, rows by
 * context then mode; Δ and speed-up against dense KVCache at the same context).
 *
 *   node --import tsx bench/model-attention-report.ts [bench/model-attention.json ...]
 */
import { readFileSync } from 'node:fs';

interface Row {
  model: string; context: number; attention: string; bitsPerByte: number; tokensPerSecond: number;
  keysScoredFraction: number; keysUsedFraction: number; keysUsedPerRow: number; maxErrorBound: number;
  maxAbsNllDiffVsReference: number; tokensOver2e3VsReference: number;
}

const files = process.argv.slice(2).length ? process.argv.slice(2) : ['bench/model-attention.json'];
const rows: Row[] = files.flatMap((f) => JSON.parse(readFileSync(f, 'utf8')).rows as Row[]);
const pct = (x: number) => `${(100 * x).toFixed(x < 0.1 ? 2 : 1)}%`;

for (const model of [...new Set(rows.map((r) => r.model))]) {
  console.log(`\n**${model}**\n`);
  console.log('| context | attention | bits/byte | Δ vs dense | tokens/s | vs dense | keys scored | keys used | keys/row | max TV bound | max \\|ΔNLL\\| vs ref |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows.filter((x) => x.model === model)) {
    const dense = rows.find((x) => x.model === model && x.context === r.context && x.attention === 'dense');
    const d = dense && r !== dense;
    console.log(`| ${r.context} | ${r.attention} | ${r.bitsPerByte.toFixed(4)} | ${d ? `${((r.bitsPerByte / dense.bitsPerByte - 1) * 100).toFixed(2)}%` : ''} | ` +
      `${r.tokensPerSecond.toFixed(1)} | ${d ? `${(r.tokensPerSecond / dense.tokensPerSecond).toFixed(2)}×` : ''} | ${pct(r.keysScoredFraction)} | ${pct(r.keysUsedFraction)} | ` +
      `${r.keysUsedPerRow.toFixed(0)} | ${r.maxErrorBound > 0 ? r.maxErrorBound.toExponential(1) : ''} | ${r.maxAbsNllDiffVsReference.toExponential(1)} |`);
  }
}
