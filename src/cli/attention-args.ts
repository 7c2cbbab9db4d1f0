/** The attention options shared by every command that runs a model, and their translation to an AttentionMode. */
import type { ModelConfig } from '../model/config.js';
import { ATTENTION_KINDS, defaultAttention, type AttentionMode } from '../model/attention-mode.js';
import { indexKinds } from '../hsr/half-space-index.js';
import { UsageError, type OptionSpecs, type ParsedArgs } from './args.js';

export const ATTENTION_OPTIONS: OptionSpecs = {
  attention: { type: 'string', value: 'MODE', choices: ATTENTION_KINDS, help: `${ATTENTION_KINDS.join('|')} (default: dense for softmax models, sparse = exact sparse for ReLU models)` },
  epsilon: { type: 'number', above: 0, value: 'E', default: 0.01, help: 'certified: bound on the total-variation error of every row' },
  threshold: { type: 'number', value: 'T', default: 2, help: 'threshold: keep keys with scaled score ⟨q,k⟩/√d ≥ T' },
  'top-k': { type: 'integer', min: 1, value: 'K', default: 256, help: 'topk: keep the K highest-scoring keys per row' },
  sinks: { type: 'integer', min: 0, value: 'S', default: 4, help: 'window: attention-sink positions kept at the start' },
  window: { type: 'integer', min: 1, value: 'W', default: 256, help: 'window: most recent positions kept' },
  'page-size': { type: 'integer', min: 1, value: 'P', default: 16, help: 'page-topk: positions per page' },
  budget: { type: 'integer', min: 1, value: 'B', default: 256, help: 'page-topk: keys per row (pages kept = ⌈B/P⌉)' },
  index: { type: 'string', value: 'KIND', help: 'HSR index kind for the sparse modes (default: the library default)' },
  kernels: { type: 'string', choices: ['auto', 'js', 'wasm'], default: 'auto', help: 'backend of the weight products' },
  'attention-kernels': { type: 'string', choices: ['auto', 'js', 'wasm'], default: 'auto', help: 'backend of flash, window and page-topk attention (the KVCache modes use their own)' },
  block: { type: 'integer', min: 1, value: 'N', default: 32, help: 'tokens per forward block (prefill)' },
};

/** The AttentionMode the parsed options ask for on this model. */
export function attentionMode(args: ParsedArgs, config: ModelConfig): AttentionMode {
  const kind = args.attention as string | undefined;
  switch (kind) {
    case undefined: return defaultAttention(config);
    case 'dense': case 'flash': case 'sparse': case 'paper': return { kind };
    case 'certified': return { kind, epsilon: args.epsilon as number };
    case 'threshold': return { kind, threshold: args.threshold as number };
    case 'topk': return { kind, topK: args['top-k'] as number };
    case 'window': return { kind, sinks: args.sinks as number, window: args.window as number };
    case 'page-topk': return { kind, pageSize: args['page-size'] as number, budget: args.budget as number };
    default: throw new UsageError(`expected --attention to be one of ${ATTENTION_KINDS.join('|')}, got ${kind}`);
  }
}

/** Checks --index against the registered index kinds. */
export function indexOption(args: ParsedArgs): string | undefined {
  const index = args.index as string | undefined;
  if (index !== undefined && !indexKinds().includes(index)) {
    throw new UsageError(`expected --index to be one of ${indexKinds().join('|')}, got ${index}`);
  }
  return index;
}
