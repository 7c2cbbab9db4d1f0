/** Options naming the model and the text, shared by the model commands. */
import type { KernelBackend } from '../kernels/index.js';
import type { LlamaModel } from '../model/llama.js';
import { loadModel } from '../node/model.js';
import { readBytes } from '../node/checkpoint.js';
import type { OptionSpecs, ParsedArgs } from './args.js';
import { vendoredModelDir } from '../node/vendored-models.js';
import { DEV_TEXT, SOFTMAX_MODEL_NAME } from './paths.js';

export const MODEL_OPTION: OptionSpecs = {
  model: { type: 'string', value: 'DIR', help: 'model folder: HF config.json + safetensors (default: the vendored bytelm-10m, from the hsr-attention-models package)' },
};

export const TEXT_OPTION: OptionSpecs = {
  text: { type: 'string', value: 'FILE', help: 'text file, read as bytes (default: the vendored data/dev_c.txt)' },
};

export function modelFromArgs(args: ParsedArgs): LlamaModel {
  return loadModel((args.model as string | undefined) ?? vendoredModelDir(SOFTMAX_MODEL_NAME), { kernels: args.kernels as KernelBackend });
}

/** The text's bytes (token ids of the byte-level models), at most `limit` of them: the rest is never read. */
export function textFromArgs(args: ParsedArgs, limit: number): Uint8Array {
  return readBytes((args.text as string | undefined) ?? DEV_TEXT, limit);
}
