/**
 * The byte-level tokenizer of the bytelm models: token id = byte value of the UTF-8 text, no BOS,
 * no merges. Decoding streams: a multi-byte character split across tokens is held back until its
 * last byte arrives (TextDecoder's stream mode keeps the partial character).
 */
import { utf8Encode } from '../io/bytes.js';

export function encodeBytes(text: string): Uint8Array {
  return utf8Encode(text);
}

type StreamingDecoder = { decode(bytes?: Uint8Array, options?: { stream: boolean }): string };
const TextDecoderCtor = (globalThis as unknown as { TextDecoder: new (label: string) => StreamingDecoder }).TextDecoder;

/** Turns a stream of byte tokens into text pieces, emitting only complete UTF-8 characters. */
export class ByteDecoder {
  private readonly decoder = new TextDecoderCtor('utf-8');
  private readonly one = new Uint8Array(1);

  /** Text completed by this byte ('' while inside a multi-byte character; U+FFFD for invalid bytes). */
  push(byte: number): string {
    this.one[0] = byte;
    return this.decoder.decode(this.one, { stream: true });
  }

  /** Whatever is left (an incomplete character becomes U+FFFD). */
  flush(): string {
    return this.decoder.decode();
  }
}
