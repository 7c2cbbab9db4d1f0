/**
 * Text ↔ token ids for a model: the byte-level models need no tokenizer (token id = byte); any other
 * Llama-family checkpoint brings its `tokenizer.json`, run by HfTokenizer (src/node/hf-tokenizer.ts:
 * it imports a package, which the browser build's plain ES modules cannot). Which one a folder gets:
 * src/node/tokenizer.ts.
 */
import { ByteDecoder, encodeBytes } from './tokenizer.js';

/** Emits text as token ids arrive, holding back what is not a complete character yet. */
export interface StreamingDecoder {
  push(id: number): string;
  flush(): string;
}

export interface TextTokenizer {
  /** 'bytes' (token id = UTF-8 byte) or 'tokenizer.json'. */
  readonly kind: 'bytes' | 'tokenizer.json';
  /** Token ids of the text, with the special tokens the tokenizer's post-processor adds (e.g. BOS). */
  encode(text: string): number[];
  /** Text of the ids, special tokens left out. */
  decode(ids: readonly number[]): string;
  streamDecoder(): StreamingDecoder;
}

export class ByteTokenizer implements TextTokenizer {
  readonly kind = 'bytes';
  encode(text: string): number[] { return Array.from(encodeBytes(text)); }
  decode(ids: readonly number[]): string {
    const d = new ByteDecoder();
    return ids.map((t) => d.push(t)).join('') + d.flush();
  }
  streamDecoder(): StreamingDecoder { return new ByteDecoder(); }
}
