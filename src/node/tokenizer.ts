/** The tokenizer of a model folder: its tokenizer.json, or bytes for a 256-token vocabulary. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsrError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { ByteTokenizer, type TextTokenizer } from '../model/text-tokenizer.js';
import { HfTokenizer } from './hf-tokenizer.js';

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new HsrError('MALFORMED_FILE', `${path}: expected JSON, got ${(e as Error).message}`);
  }
}

/**
 * `tokenizer.json` (with `tokenizer_config.json` when present) if the folder has one; otherwise
 * bytes when the vocabulary is the 256 byte values; otherwise a NOT_FOUND error saying what to add.
 */
export function loadTokenizer(dir: string, config: ModelConfig): TextTokenizer {
  const path = join(dir, 'tokenizer.json');
  if (existsSync(path)) {
    const configPath = join(dir, 'tokenizer_config.json');
    const tokenizer = new HfTokenizer(readJson(path), existsSync(configPath) ? readJson(configPath) : {}, path);
    if (tokenizer.vocabSize > config.vocabSize) {
      throw new HsrError('MALFORMED_FILE', `${path}: expected token ids below the model's vocab_size ${config.vocabSize}, got a vocabulary of ${tokenizer.vocabSize}`);
    }
    return tokenizer;
  }
  if (config.vocabSize === 256) return new ByteTokenizer();
  const sentencePiece = existsSync(join(dir, 'tokenizer.model')) ? ' (it has tokenizer.model, a SentencePiece file: save the tokenizer as tokenizer.json with HF transformers\' AutoTokenizer … save_pretrained)' : '';
  throw new HsrError('NOT_FOUND', `${dir}: expected tokenizer.json beside config.json for a vocabulary of ${config.vocabSize} tokens ` +
    `(without one, text is read as bytes, which needs vocab_size 256), got none${sentencePiece}`);
}
