/**
 * Certified softmax ε with a cut LOCAL to each block of keys, in float64: the rule bench/local-cut.ts
 * studies against the GPU's global cut. It was built on the GPU (plan option certifiedCut 'local')
 * and removed when the H100 timed it slower than the global cut at every n (docs/webgpu.md, "Certified
 * ε, local cut"); the study stays as a measured finding.
 *
 * Per head, keys carry bounds lo_k ≤ s_k ≤ hi_k on their scaled logits, masses are relative to the
 * head's anchor a, and Z_lo is a lower bound on the total mass Z = Σ_k e^{s_k − a} that every block
 * knows before it cuts (e^{G − a} for G the largest lower bound of the query pass's sampled keys, or
 * Σ_k e^{lo_k − a} over every key when an earlier pass sums it). The keys are cut into B blocks;
 * block b keeps the keys with hi_k ≥ T_b, T_b the lowest cut whose skipped upper mass
 * S_b = Σ_skipped e^{hi_k − a} satisfies
 *     S_b ≤ p·r·K_b + (1 − p)·(ε/B)·Z_lo,    r = ε/(1 − ε),  0 ≤ p ≤ 1,
 * with K_b ≤ the block's kept keys' mass (a lower bound). Summed over blocks, U = Σ S_b and
 * L = Σ K_b give U ≤ p·r·L + (1 − p)·ε·Z_lo, and the errorBound the merge reports is the CPU's
 * own, U/(W + U) with W ≥ L the kept keys' exact mass — never below the true total variation (that
 * holds for any kept set, since U bounds the skipped mass). It stays ≤ ε, i.e. U ≤ r·W:
 *   - if W ≥ Z_lo: U ≤ p·r·W + (1 − p)·ε·W ≤ r·W;
 *   - if (1 − ε)·Z_lo < W < Z_lo: U ≤ p·r·W + (1 − p)·ε·W/(1 − ε) = r·W;
 *   - else W + U ≥ Z ≥ Z_lo (U bounds the skipped mass) and U ≤ p·r·W + (1 − p)·ε·Z_lo
 *     ≤ p·ε·Z_lo + (1 − p)·ε·Z_lo = ε·Z_lo ≤ ε·(W + U).
 * No block needs another's counts: no global histogram and no global cut pass.
 *
 * {@link localCutOfBuckets} is the rule on the GPU's bucket bytes (src/webgpu/certified-cut.ts: the
 * bytes' mass edges); {@link localCutExact} the same rule on unbucketed bounds.
 */
import { BYTES, lowerEdge, upperEdge } from '../../src/webgpu/certified-cut.js';
import { WG } from '../../src/webgpu/wgsl.js';
/** At most this many keys a thread of the GPU's local-cut pass, as built (blocks as it made them). */
const MAX_KEYS_PER_THREAD = 32;

/**
 * Keys a block of the local cut (a multiple of WG, at most WG · MAX_KEYS_PER_THREAD) and blocks a
 * head, for n keys and `scanGroups` scan groups over `targetWorkgroups` workgroups: about one
 * workgroup a block.
 */
export function localBlocks(n: number, scanGroups: number, targetWorkgroups: number): { blockKeys: number; blocks: number } {
  const perGroup = Math.max(1, Math.floor(targetWorkgroups / scanGroups));
  const perThread = Math.min(MAX_KEYS_PER_THREAD, Math.max(1, Math.ceil(n / (perGroup * WG))));
  const blockKeys = perThread * WG;
  return { blockKeys, blocks: Math.max(1, Math.ceil(n / blockKeys)) };
}

export interface LocalCut {
  /** Per block, the cut byte c (keys with upper byte < c kept; BYTES: all). */
  cuts: Int32Array;
  /** Σ_b S_b and Σ_b K_b (relative to the anchor). */
  U: number; L: number;
  /** Kept flags by key. */
  kept: Uint8Array;
}

/** The rule's constants: p·r (`kept`, times K_b) and (1 − p)·ε (`floor`, times Z_lo/B). */
export interface LocalRule { kept: number; floor: number }

/** The rule for ε and share p (r = ε/(1 − ε)), both shrunk by `shrink` (the GPU's rounding room). */
export function localRule(epsilon: number, p: number, shrink = 1): LocalRule {
  return { kept: p * (epsilon / (1 - epsilon)) * shrink, floor: (1 - p) * epsilon * shrink };
}

/**
 * The local rule on bucket bytes of one head (up[k], lo[k] for keys [0, n)): per block the smallest
 * c ≥ 1 with S_b(c) ≤ rule.kept·K_b(c) + rule.floor·floorMass/B, floorMass = Z_lo.
 */
export function localCutOfBuckets(up: ArrayLike<number>, lo: ArrayLike<number>, n: number, blockKeys: number, rule: LocalRule, floorMass: number): LocalCut {
  const blocks = Math.max(1, Math.ceil(n / blockKeys)), cuts = new Int32Array(blocks), kept = new Uint8Array(n);
  const allowance = (rule.floor / blocks) * floorMass;
  let U = 0, L = 0;
  const ups = new Float64Array(BYTES), los = new Float64Array(BYTES);
  for (let b = 0; b < blocks; b++) {
    const j0 = b * blockKeys, j1 = Math.min(n, j0 + blockKeys);
    ups.fill(0); los.fill(0);
    for (let j = j0; j < j1; j++) { ups[up[j]!]! += 1; los[lo[j]!]! += 1; }
    // S(c) = Σ_{t ≥ c} ups_t·upperEdge(t), K(c) = Σ_{t < c} los_t·lowerEdge(t).
    const S = new Float64Array(BYTES + 1);
    for (let t = BYTES - 1; t >= 0; t--) S[t] = S[t + 1]! + ups[t]! * upperEdge(t);
    let K = 0, c = 1;
    for (; c < BYTES; c++) {
      K += los[c - 1]! * lowerEdge(c - 1);
      if (S[c]! <= rule.kept * K + allowance) break;
    }
    if (c === BYTES) K += los[BYTES - 1]! * lowerEdge(BYTES - 1);
    cuts[b] = c; U += S[c]!; L += K;
    for (let j = j0; j < j1; j++) kept[j] = up[j]! < c ? 1 : 0;
  }
  return { cuts, U, L, kept };
}

/**
 * The local rule on float64 bounds (no buckets): per block the keys by upper bound, fewest first,
 * until S_b ≤ rule.kept·Σ_kept e^{lo} + rule.floor·floorMass/B; masses relative to `ref`.
 */
export function localCutExact(hi: Float64Array, lo: Float64Array, blockKeys: number, rule: LocalRule, floorMass: number, ref: number): LocalCut {
  const n = hi.length, blocks = Math.max(1, Math.ceil(n / blockKeys)), cuts = new Int32Array(blocks), kept = new Uint8Array(n);
  const allowance = (rule.floor / blocks) * floorMass;
  let U = 0, L = 0;
  for (let b = 0; b < blocks; b++) {
    const j0 = b * blockKeys, j1 = Math.min(n, j0 + blockKeys);
    const idx = Array.from({ length: j1 - j0 }, (_, i) => j0 + i).sort((x, y) => hi[y]! - hi[x]!);
    const suffix = new Float64Array(idx.length + 1);
    for (let t = idx.length - 1; t >= 0; t--) suffix[t] = suffix[t + 1]! + Math.exp(hi[idx[t]!]! - ref);
    let K = 0, t = 0;
    for (; t < idx.length && suffix[t]! > rule.kept * K + allowance; t++) { K += Math.exp(lo[idx[t]!]! - ref); kept[idx[t]!] = 1; }
    cuts[b] = t; U += suffix[t]!; L += K;
  }
  return { cuts, U, L, kept };
}
