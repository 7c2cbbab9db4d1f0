// The task generators: formats exactly as the retrieval models were trained (their README), sizes,
// determinism, needle placement, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTrial, makeTrials, TASK_KINDS } from '../../src/tasks/trials.js';
import { seededRandom } from '../../src/report/random.js';
import { HsrError } from '../../src/errors.js';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const haystack = new TextEncoder().encode('Plain prose about nothing in particular, with no digits at all. '.repeat(40));
const isCode = (code: string) => (e: unknown) => e instanceof HsrError && e.code === code;

test('pass key: the trained needle and query, answer = the key, prompt + answer = context', () => {
  for (const context of [160, 300, 2048]) {
    const t = makeTrial('passkey', haystack, context, seededRandom(context));
    const p = text(t.prompt), key = text(t.answer);
    assert.match(key, /^\d{5}$/);
    assert.equal(t.prompt.length + t.answer.length, context);
    assert.ok(p.endsWith('\nWhat is the pass key? The pass key is '));
    const needle = `\nThe pass key is ${key}. Remember it. ${key} is the pass key.\n`;
    assert.equal(p.indexOf(needle), t.needleAt);
    assert.equal(p.split(key).length, 3, 'the key appears only in the needle (twice)');
  }
});

test('recall: distinct names, non-overlapping needles spread over the window, one asked', () => {
  const t = makeTrial('recall', haystack, 1024, seededRandom(7), { pairs: 8 });
  const p = text(t.prompt);
  const needles = [...p.matchAll(/\nThe code for ([A-Z]{4}) is (\d{5})\.\n/g)];
  assert.equal(needles.length, 8);
  assert.equal(new Set(needles.map((m) => m[1])).size, 8);
  const asked = /\nThe code for ([A-Z]{4}) is $/.exec(p)![1]!;
  const hit = needles.find((m) => m[1] === asked)!;
  assert.equal(text(t.answer), hit[2]);
  assert.equal(hit.index, t.needleAt);
  assert.ok(needles[7]!.index! > 1024 / 2, 'needles reach the second half of the window');
});

test('intro: the training tasks\' instruction line opens the prompt, the needles follow it, the rest is unchanged', () => {
  const line = 'There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.\n';
  for (const task of ['passkey', 'recall'] as const) {
    const plain = makeTrial(task, haystack, 1024, seededRandom(5)), t = makeTrial(task, haystack, 1024, seededRandom(5), { intro: true });
    assert.ok(text(t.prompt).startsWith(line), task);
    assert.ok(t.needleAt >= line.length, `${task}: needle after the line`);
    assert.equal(t.prompt.length, plain.prompt.length);
    assert.deepEqual(t.answer, plain.answer, `${task}: same key asked (same random stream)`);
  }
});

test('copy: the cue repeats the span\'s start and the answer continues it from the haystack', () => {
  const t = makeTrial('copy', haystack, 512, seededRandom(3), { copyPrefix: 20, copyAnswer: 6 });
  const p = text(t.prompt);
  const cue = p.slice(p.length - 20);
  assert.equal(p[p.length - 21], '\n');
  assert.equal(p.slice(t.needleAt, t.needleAt + 26), cue + text(t.answer));
});

test('trials are reproducible from the seed, trial t independent of the trial count, and differ across seeds', () => {
  for (const task of TASK_KINDS) {
    const a = makeTrials(task, haystack, 600, 3, 11), b = makeTrials(task, haystack, 600, 5, 11), c = makeTrials(task, haystack, 600, 3, 12);
    assert.deepEqual(a, b.slice(0, 3));
    assert.notDeepEqual(a.map((t) => text(t.answer)), c.map((t) => text(t.answer)));
  }
});

test('a haystack shorter than the context repeats; too short a context, bad counts and an empty haystack are BAD_OPTION', () => {
  const t = makeTrial('passkey', new TextEncoder().encode('tiny. '), 400, seededRandom(1));
  assert.equal(t.prompt.length + t.answer.length, 400);
  assert.throws(() => makeTrial('passkey', haystack, 60, seededRandom(1)), isCode('BAD_OPTION'));
  assert.throws(() => makeTrial('recall', haystack, 200, seededRandom(1), { pairs: 12 }), isCode('BAD_OPTION'));
  assert.throws(() => makeTrial('recall', haystack, 2000, seededRandom(1), { pairs: 0 }), isCode('BAD_OPTION'));
  assert.throws(() => makeTrial('copy', haystack, 100, seededRandom(1)), isCode('BAD_OPTION'));
  assert.throws(() => makeTrial('passkey', new Uint8Array(0), 400, seededRandom(1)), isCode('BAD_OPTION'));
  assert.throws(() => makeTrial('nope' as never, haystack, 400, seededRandom(1)), isCode('BAD_OPTION'));
  assert.throws(() => makeTrials('passkey', haystack, 400, 0, 1), isCode('BAD_OPTION'));
  assert.throws(() => makeTrials('passkey', haystack, 400, 2, 1.5), isCode('BAD_OPTION'));
});
