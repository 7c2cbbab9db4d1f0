/**
 * A checkpoint's `tokenizer.json` (+ optional `tokenizer_config.json`), run by the maintained Hugging
 * Face tokenizers.js library (`@huggingface/tokenizers`, pure JS): BPE, byte-level, SentencePiece-style
 * Metaspace and the rest, with the checkpoint's own normalizer, pre-tokenizer, post-processor (e.g. the
 * BOS token) and decoder. Node side only because the core must import no package by bare name (the
 * browser loads dist/ as plain modules); the library itself also runs in browsers.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { HsrError } from '../errors.js';
import type { StreamingDecoder, TextTokenizer } from '../model/text-tokenizer.js';
import { describe } from '../tensor/matrix.js';

/** A `tokenizer.json` (+ optional `tokenizer_config.json`) run by tokenizers.js. */
export class HfTokenizer implements TextTokenizer {
  readonly kind = 'tokenizer.json';
  private readonly tokenizer: Tokenizer;
  /** Largest token id the tokenizer can produce, + 1 (model vocabularies may be padded beyond it). */
  readonly vocabSize: number;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, what = 'tokenizer.json') {
    if (tokenizerJson === null || typeof tokenizerJson !== 'object' || !('model' in tokenizerJson)) {
      throw new HsrError('MALFORMED_FILE', `${what}: expected a Hugging Face tokenizer.json object with a "model", got ${describe(tokenizerJson)}`);
    }
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, (tokenizerConfig ?? {}) as object);
    } catch (e) {
      throw new HsrError('UNSUPPORTED', `${what}: expected a tokenizer tokenizers.js can run, got an error from it: ${(e as Error).message}`);
    }
    let max = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
  }

  encode(text: string): number[] { return this.tokenizer.encode(text).ids; }
  decode(ids: readonly number[]): string { return this.tokenizer.decode([...ids], { skip_special_tokens: true }); }

  /** Decodes the whole sequence so far at each step and emits what is new: merges and byte fallback can span tokens. */
  streamDecoder(): StreamingDecoder {
    const ids: number[] = [];
    let emitted = '';
    const next = (final: boolean): string => {
      const text = this.decode(ids);
      // A sequence ending inside a multi-byte character decodes to U+FFFD at the end: wait for the rest.
      if (!final && text.endsWith('\ufffd')) return '';
      const fresh = text.startsWith(emitted) ? text.slice(emitted.length) : '';
      emitted = text;
      return fresh;
    };
    return { push: (id) => { ids.push(id); return next(false); }, flush: () => next(true) };
  }
}
