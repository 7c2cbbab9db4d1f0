/** Options naming the model and the text, shared by the model commands. */
import type { KernelBackend } from '../kernels/index.js';
import type { LlamaModel } from '../model/llama.js';
import { loadModel } from '../node/model.js';
import { readBytes } from '../node/checkpoint.js';
import { loadTokenizer } from '../node/tokenizer.js';
import type { TextTokenizer } from '../model/text-tokenizer.js';
import { utf8Decode } from '../io/bytes.js';
import type { OptionSpecs, ParsedArgs } from './args.js';
import { HsrError } from '../errors.js';
import { vendoredModelDir } from '../node/vendored-models.js';
import { DEV_TEXT, SOFTMAX_MODEL_NAME } from './paths.js';

export const MODEL_OPTION: OptionSpecs = {
  model: { type: 'string', value: 'DIR', help: 'model folder: HF config.json + safetensors, and tokenizer.json unless the vocabulary is bytes (default: the vendored bytelm-10m, from the hsr-attention-models package)' },
};

export const TEXT_OPTION: OptionSpecs = {
  text: { type: 'string', value: 'FILE', help: 'text file, read as bytes, or as UTF-8 text for the model\'s tokenizer.json (default: the vendored data/dev_c.txt)' },
};

function modelDir(args: ParsedArgs): string {
  return (args.model as string | undefined) ?? vendoredModelDir(SOFTMAX_MODEL_NAME);
}

export function modelFromArgs(args: ParsedArgs): LlamaModel {
  return loadModel(modelDir(args), { kernels: args.kernels as KernelBackend });
}

/** The model folder's tokenizer (bytes for the byte-level models; NOT_FOUND for another vocabulary without tokenizer.json). */
export function tokenizerFromArgs(args: ParsedArgs, model: LlamaModel): TextTokenizer {
  return loadTokenizer(modelDir(args), model.config);
}

/** Bytes of text read per token wanted, for tokenizer.json models: far above any real vocabulary's mean. */
const MAX_BYTES_PER_TOKEN = 32;

/** Length of `bytes` without a trailing incomplete UTF-8 sequence (at most 3 bytes are dropped). */
function completeUtf8Length(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back for the lead byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? bytes.length - back : bytes.length;
  }
  return bytes.length;
}

/**
 * The text's token ids, at most `limit` of them, reading no more of the file than they need: its bytes
 * for a byte-level model; for a tokenizer.json model its UTF-8 text, of which at most
 * MAX_BYTES_PER_TOKEN · limit bytes are read (real BPE vocabularies average 3–5 bytes a token) and
 * encoded, so a huge file or /dev/zero costs a bounded read.
 */
export function textFromArgs(args: ParsedArgs, tokenizer: TextTokenizer, limit: number): Uint8Array | number[] {
  const path = (args.text as string | undefined) ?? DEV_TEXT;
  if (tokenizer.kind === 'bytes') return readBytes(path, limit);
  const readLimit = Math.min(Number.MAX_SAFE_INTEGER, limit * MAX_BYTES_PER_TOKEN);
  let bytes = readBytes(path, readLimit);
  // A read cut at the limit may end inside a multi-byte character: drop that partial character.
  if (bytes.length === readLimit) bytes = bytes.subarray(0, completeUtf8Length(bytes));
  let text: string;
  try {
    text = utf8Decode(bytes);
  } catch {
    throw new HsrError('MALFORMED_FILE', `${path}: expected UTF-8 text for the model's tokenizer.json, got bytes that are not UTF-8`);
  }
  return tokenizer.encode(text).slice(0, limit);
}
