/** Seeded PRNG (mulberry32) with Gaussian samples (Box–Muller), so every experiment input is reproducible. */
export interface Random {
  uniform(): number;
  gauss(): number;
}

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, gauss };
}

/** count Gaussian values (float32), standard deviation `scale`. */
export function gaussianArray(r: Random, count: number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = r.gauss() * scale;
  return out;
}
