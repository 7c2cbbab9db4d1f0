/**
 * Certified ε through the fused pass (plan option sparsePass 'fused' with { epsilon }): the fused
 * pass's keep rule (fused-wgsl.ts KeepRule) that takes the split path's cut and compaction into
 * the attention pass. A step is then query, scan, histogram, this pass, merge — five dependent
 * passes instead of seven (query, scan, histogram, cut, compaction, gathered attention, merge).
 *
 * Prelude: every workgroup computes the cut of its G heads from the histogram itself (select-wgsl.ts
 * globalCutFns: 448 buckets a head, two scans over the workgroup's threads — a few µs of work
 * repeated in each workgroup instead of a dependent pass of its own; the histogram is a few KiB a
 * head, read from cache), and the first block's workgroup writes the heads' cut rows (c, U, L,
 * anchor) for the merge's errorBound. Keep: a key whose upper-bound byte (the scan's, as the
 * compaction reads it) is below the cut of any of the G heads — the union the split path's lists
 * hold, so the same keys are attended (a key a head did not keep only lowers the skipped mass that
 * U bounds; the merge's W counts the keys attended).
 */
import { RULE_BINDING, type KeepRule } from './fused-wgsl.js';
import { bucketWords, CUT_PARAMS, globalCutFns, headsPerScan, NB } from './select-wgsl.js';

/**
 * The rule for the G heads (the pass's constant) a fused workgroup serves of a KV group of `group`
 * heads (the scan's bytes come in scan groups of headsPerScan(group) heads, bucketWords of them a
 * key). Its buffers, from RULE_BINDING: upBytes, hist, edges, anchor, cut (written), the cut's
 * uniform, and with `topSum` (the 'global-top-sum' cut) the scan's lowSum.
 */
export function certifiedKeepRule(group: number, topSum = false): KeepRule {
  const b = RULE_BINDING, GH = headsPerScan(group), WPK = bucketWords(GH);
  return {
    id: `certified${GH}${topSum ? '-top-sum' : ''}`, codes: 'own', storageBuffers: topSum ? 6 : 5,
    // globalCutFns' cutScan, cutBest, cutRows (one head at a time); the G cuts are registers.
    workgroupBytes: 8 * 256 + 4 + 16,
    declarations: /* wgsl */ `
const NB = ${NB}u;
${CUT_PARAMS}
@group(0) @binding(${b}) var<storage, read> upBytes: array<u32>;
@group(0) @binding(${b + 1}) var<storage, read> hist: array<u32>;
@group(0) @binding(${b + 2}) var<storage, read> edges: array<f32>;
@group(0) @binding(${b + 3}) var<storage, read> anchor: array<f32>;
@group(0) @binding(${b + 4}) var<storage, read_write> cut: array<vec4f>;
@group(0) @binding(${b + 5}) var<uniform> cp: CutParams;
${topSum ? `@group(0) @binding(${b + 6}) var<storage, read> lowSum: array<f32>;` : ''}
${globalCutFns({ topSum, ratio: 'cp.ratio', n: 'p.n' })}`,
    prelude: /* wgsl */ `
  var cuts: array<u32, G>;
  for (var h = 0u; h < G; h++) {
    let row = globalCut(h0 + h, lid);
    cuts[h] = bitcast<u32>(row.x);
    if (wid.x == 0u && lid == 0u) { cut[h0 + h] = row; }
  }
  // Where head h0 + h's byte lies: its scan group's words (GH heads, ${WPK} words a key) and byte.
  let inKv = h0 - kvh * GS;`,
    keep: (G) => `for (var h = 0u; h < ${G}u; h++) {
      let x = inKv + h;
      let word = upBytes[((kvh * ${group / GH}u + x / ${GH}u) * ${WPK}u + (x % ${GH}u) / 4u) * p.stride + jj];
      let byte = (word >> (8u * ((x % ${GH}u) % 4u))) & 0xffu;
      keep = keep || (valid && (cuts[h] > 255u || byte < cuts[h])); // a cut past the saturated byte keeps every key
    }`,
  };
}
