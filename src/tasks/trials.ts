/**
 * The long-range retrieval tasks of `hsr-attn eval`, as byte prompts (browser-safe). Pass key and
 * key-value recall use exactly the formats the retrieval models were trained on (their README,
 * "Task formats"); copy asks the model to continue a span of the haystack it saw earlier, which no
 * training task spelled out. Each trial is a window of the haystack, needles written over it at
 * random positions, and a query at the very end; the answer is what greedy decoding must produce.
 */
import { HsrError } from '../errors.js';
import { utf8Encode } from '../io/bytes.js';
import { seededRandom, type Random } from '../report/random.js';

export const TASK_KINDS = ['passkey', 'recall', 'copy'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface TaskTrial {
  /** Haystack window with the needles, then the query; `prompt.length + answer.length` = the context. */
  prompt: Uint8Array;
  /** The bytes greedy decoding must produce right after the prompt. */
  answer: Uint8Array;
  /** Where the needle that holds the answer starts in the prompt (for distance-resolved reports). */
  needleAt: number;
}

export interface TrialOptions {
  /** recall: key-value pairs written into the haystack (trained with 2–12). Default 8. */
  pairs?: number;
  /** passkey, recall: start the prompt with the instruction line half of the training tasks began with (the models README). */
  intro?: boolean;
  /** copy: bytes of the span repeated as the query, then bytes to continue. Defaults 96 and 8 (the retrieval models were not trained to copy; shorter cues or longer answers fail even with dense attention). */
  copyPrefix?: number;
  copyAnswer?: number;
}

const PASSKEY_QUERY = '\nWhat is the pass key? The pass key is ';
const passkeyNeedle = (key: string) => `\nThe pass key is ${key}. Remember it. ${key} is the pass key.\n`;
const recallNeedle = (name: string, key: string) => `\nThe code for ${name} is ${key}.\n`;
const recallQuery = (name: string) => `\nThe code for ${name} is `;
const INTRO = 'There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.\n';
const KEY_DIGITS = 5, NAME_LETTERS = 4;

/** The trials of one evaluation: trial t depends only on (seed, t), so a run with more trials extends a shorter one. */
export function makeTrials(task: TaskKind, haystack: Uint8Array, context: number, trials: number, seed: number, options: TrialOptions = {}): TaskTrial[] {
  if (!Number.isSafeInteger(trials) || trials < 1) throw new HsrError('BAD_OPTION', `eval: expected trials ≥ 1, got ${trials}`);
  if (!Number.isSafeInteger(seed)) throw new HsrError('BAD_OPTION', `eval: expected an integer seed, got ${seed}`);
  return Array.from({ length: trials }, (_, t) => makeTrial(task, haystack, context, seededRandom(mixSeed(seed, t)), options));
}

/** One trial of `task` whose prompt and answer fill exactly `context` tokens (bytes). */
export function makeTrial(task: TaskKind, haystack: Uint8Array, context: number, rng: Random, options: TrialOptions = {}): TaskTrial {
  if (!TASK_KINDS.includes(task)) throw new HsrError('BAD_OPTION', `eval: expected a task ${TASK_KINDS.join('|')}, got ${String(task)}`);
  if (!Number.isSafeInteger(context) || context < 1) throw new HsrError('BAD_OPTION', `eval: expected a context ≥ 1 token, got ${context}`);
  if (haystack.length === 0) throw new HsrError('BAD_OPTION', 'eval: expected a haystack with text in it, got an empty one');
  switch (task) {
    case 'passkey': {
      const key = digits(rng, KEY_DIGITS);
      return withNeedles(haystack, context, rng, [passkeyNeedle(key)], 0, PASSKEY_QUERY, key, task, options.intro);
    }
    case 'recall': {
      const pairs = options.pairs ?? 8;
      if (!Number.isSafeInteger(pairs) || pairs < 1 || pairs > 100) throw new HsrError('BAD_OPTION', `eval recall: expected 1 to 100 pairs, got ${pairs}`);
      const names = new Set<string>();
      while (names.size < pairs) names.add(letters(rng, NAME_LETTERS));
      const keys = [...names].map(() => digits(rng, KEY_DIGITS));
      const asked = Math.floor(rng.uniform() * pairs);
      const name = [...names][asked]!;
      return withNeedles(haystack, context, rng, [...names].map((n, i) => recallNeedle(n, keys[i]!)), asked, recallQuery(name), keys[asked]!, task, options.intro);
    }
    case 'copy': {
      const prefix = options.copyPrefix ?? 96, length = options.copyAnswer ?? 8;
      if (!Number.isSafeInteger(prefix) || prefix < 1 || !Number.isSafeInteger(length) || length < 1) {
        throw new HsrError('BAD_OPTION', `eval copy: expected a prefix and an answer of ≥ 1 byte, got ${prefix} and ${length}`);
      }
      // The query is a newline and the span's first `prefix` bytes; the body is the rest of the context.
      const bodyLength = context - length - 1 - prefix;
      const span = prefix + length;
      if (bodyLength < span) throw tooShort(task, context, span + 1 + prefix + length);
      const body = haystackWindow(haystack, bodyLength, rng);
      const at = Math.floor(rng.uniform() * (bodyLength - span + 1));
      const prompt = new Uint8Array(context - length);
      prompt.set(body);
      prompt[bodyLength] = 0x0a;
      prompt.set(body.subarray(at, at + prefix), bodyLength + 1);
      return { prompt, answer: body.slice(at + prefix, at + span), needleAt: at };
    }
  }
}

/**
 * A haystack window with `needles` written over it, one in each of as many equal segments (so they
 * never overlap and their positions cover the whole window), then `query`; needle `target` holds the
 * answer. With `intro` the window starts with the training tasks' instruction line, and the needles
 * go after it.
 */
function withNeedles(haystack: Uint8Array, context: number, rng: Random, needles: string[], target: number, query: string, answer: string, task: TaskKind, intro = false): TaskTrial {
  const q = utf8Encode(query), a = utf8Encode(answer), encoded = needles.map(utf8Encode), head = utf8Encode(intro ? INTRO : '');
  const bodyLength = context - a.length - q.length;
  const segment = Math.floor((bodyLength - head.length) / encoded.length);
  const longest = Math.max(...encoded.map((n) => n.length));
  if (bodyLength < 1 || segment < longest) throw tooShort(task, context, head.length + longest * encoded.length + q.length + a.length);
  const prompt = new Uint8Array(context - a.length);
  prompt.set(haystackWindow(haystack, bodyLength, rng));
  prompt.set(head);
  let needleAt = 0;
  encoded.forEach((n, i) => {
    const at = head.length + i * segment + Math.floor(rng.uniform() * (segment - n.length + 1));
    prompt.set(n, at);
    if (i === target) needleAt = at;
  });
  prompt.set(q, bodyLength);
  return { prompt, answer: a, needleAt };
}

/** `length` bytes of the haystack from a random offset, wrapping around (a short haystack repeats). */
function haystackWindow(haystack: Uint8Array, length: number, rng: Random): Uint8Array {
  const out = new Uint8Array(length);
  let from = Math.floor(rng.uniform() * haystack.length);
  for (let filled = 0; filled < length;) {
    const piece = haystack.subarray(from, Math.min(haystack.length, from + length - filled));
    out.set(piece, filled);
    filled += piece.length;
    from = 0;
  }
  return out;
}

function tooShort(task: TaskKind, context: number, needed: number): HsrError {
  return new HsrError('BAD_OPTION', `eval ${task}: expected a context of at least ${needed} tokens to hold the needles and the query, got ${context}`);
}

function digits(rng: Random, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(rng.uniform() * 10));
  return s;
}

function letters(rng: Random, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(65 + Math.floor(rng.uniform() * 26));
  return s;
}

/** A 32-bit seed for trial t of a run seeded with `seed` (distinct trials get unrelated streams). */
function mixSeed(seed: number, t: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(t + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}
