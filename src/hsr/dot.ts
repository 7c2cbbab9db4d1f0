/** ⟨a, points[row]⟩ in float64. Float64 keeps products of norms up to ~1e300 finite and exact enough. */
export function dotRow(a: Float32Array, points: Float32Array, rowIndex: number, dim: number): number {
  let s = 0;
  const base = rowIndex * dim;
  for (let j = 0; j < dim; j++) s += a[j]! * points[base + j]!;
  return s;
}
