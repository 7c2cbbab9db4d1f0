/**
 * Certified softmax ε on the projection first filter's bounds (plan option `firstFilter: 'proj'`
 * with `sparsity: { epsilon }`): the certified scan (select-wgsl.ts certifiedScanSource) buckets
 * each key's bounds from its projection codes — 2R + 8 bytes a key (24 at R = 8) instead of the
 * int8 codes' 144 at d = 128 — into the same bucket bytes, against the same anchor (the int8 query
 * pass', which also zeroes the histogram), so the histogram, the cut, the compaction, the gathered
 * attention and the merge are the int8 path's. The bound is proj-wgsl.ts's, both sides:
 * scale·⟨q, k⟩ ∈ t.x + dt ± half for any basis, centre and codes as stored, every float32 rounding
 * inside `half`. It is wider than the int8 codes' (the residual's ‖q_r‖·ρ): the cut keeps more keys,
 * every one attended exactly, so the errorBound stays the merge's U/(W + U) ≥ the true TV and ≤ ε.
 * Pays only where the keys are close to rank R (bench/certified-filter.ts; docs/webgpu.md).
 */
import { certifiedScanSource, type CertifiedBounds } from './select-wgsl.js';
import { projDots, projHalfWidth, STORED_PROJ_META, storedProjCode, storedProjQuery } from './proj-wgsl.js';

/**
 * The projection's bounds for the certified scan: codes 0, keyMeta 1, the query pass' qproj 3, the
 * uniform 4. Bounds are clamped to ±3e38 (the scan's gaps stay finite) and a NaN one (keys or
 * queries near float32's range: proj-wgsl.ts "Overflow") comes out as +3e38 above (the key is kept)
 * and −3e38 below (it adds nothing to L).
 */
export function projCertifiedBounds(R: number, GH: number): CertifiedBounds {
  const query = storedProjQuery(R);
  return {
    decls: `@group(0) @binding(0) var<storage, read> codes: array<vec4u>;
@group(0) @binding(1) var<storage, read> keyMeta: array<vec2f>;
@group(0) @binding(3) var<storage, read> qproj: array<vec4f>;
@group(0) @binding(4) var<uniform> p: Params;`,
    key: projDots(R, GH, query, storedProjCode(R), STORED_PROJ_META),
    head: (h) => `${projHalfWidth(R, h, query)}
        let ub = t.x + dt[${h}] + half; let lb = t.x + dt[${h}] - half;
        let up = select(3.0e38, max(ub, -3.0e38), ub < 3.0e38); let lo = select(-3.0e38, min(lb, 3.0e38), lb > -3.0e38);`,
  };
}

/** The certified scan over the projection codes (dispatch as certifiedScanSource's). */
export function projCertifiedScanSource(D: number, R: number, group: number, GH: number, topSums: boolean): string {
  return certifiedScanSource(D, group, GH, topSums, projCertifiedBounds(R, GH));
}
