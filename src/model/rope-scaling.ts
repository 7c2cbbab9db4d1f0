/**
 * RoPE frequency scaling of Llama-family checkpoints: how `config.json` names it (transformers 5's
 * `rope_parameters`, or the older `rope_theta` + `rope_scaling` with `rope_type` or `type`) and the
 * inverse frequencies each supported type gives, computed in float32 step by step as HF transformers
 * does (modeling_rope_utils), so long positions agree with the reference. Supported: none/default,
 * linear (position interpolation) and llama3 (Llama 3.1's smoothed per-frequency scaling); the
 * types that also change attention scaling or depend on the sequence length (dynamic, yarn,
 * longrope) are refused by name.
 */
import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface RopeConfig { theta: number; scaling: RopeScaling }

const f32 = Math.fround;

/** Reads the RoPE base and scaling from a config.json object. */
export function parseRopeConfig(c: Record<string, unknown>, what: string): RopeConfig {
  const params = objectOrNull(c.rope_parameters, 'rope_parameters', what);
  const legacy = objectOrNull(c.rope_scaling, 'rope_scaling', what);
  const src = params ?? legacy ?? {};
  const type = src.rope_type ?? src.type ?? 'default';
  const theta = positive(params?.rope_theta ?? c.rope_theta ?? 10000, 'rope_theta', what);
  const num = (key: string) => positive(src[key], `${params ? 'rope_parameters' : 'rope_scaling'}.${key}`, what);
  switch (type) {
    case 'default': return { theta, scaling: { type: 'default' } };
    case 'linear': return { theta, scaling: { type: 'linear', factor: num('factor') } };
    case 'llama3': {
      const scaling = { type: 'llama3', factor: num('factor'), lowFreqFactor: num('low_freq_factor'), highFreqFactor: num('high_freq_factor'),
        originalMaxPositions: num('original_max_position_embeddings') } as const;
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) {
        throw new HsrError('MALFORMED_FILE', `${what}: expected llama3 RoPE high_freq_factor > low_freq_factor, got ${scaling.highFreqFactor} and ${scaling.lowFreqFactor}`);
      }
      return { theta, scaling };
    }
    default:
      throw new HsrError('UNSUPPORTED', `${what}: expected RoPE scaling none, "linear" or "llama3", got rope_type ${describe(type)} ` +
        '(dynamic, yarn and longrope change attention with the sequence length; this runner does not implement them)');
  }
}

/** inv_freq[i] for i < headDim/2, float32 arithmetic in HF's order. */
export function inverseFrequencies(headDim: number, rope: RopeConfig): Float32Array {
  const half = headDim / 2, out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = f32(1 / f32(rope.theta ** f32((2 * i) / headDim)));
  const s = rope.scaling;
  if (s.type === 'linear') for (let i = 0; i < half; i++) out[i] = f32(out[i]! / s.factor);
  if (s.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor, highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const inv = out[i]!, wavelen = f32(2 * Math.PI / inv);
      if (wavelen > lowWavelen) out[i] = f32(inv / s.factor);              // low frequencies: interpolated
      else if (wavelen >= highWavelen) {                                    // medium: blended
        const smooth = f32(f32(f32(s.originalMaxPositions / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
        out[i] = f32(f32(f32(f32(1 - smooth) * inv) / s.factor) + f32(smooth * inv));
      }                                                                     // high frequencies: unchanged
    }
  }
  return out;
}

function objectOrNull(v: unknown, key: string, what: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new HsrError('MALFORMED_FILE', `${what}: expected ${key} to be an object or null, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function positive(v: unknown, key: string, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new HsrError('MALFORMED_FILE', `${what}: expected ${key} to be a positive number, got ${describe(v)}`);
  return v;
}
