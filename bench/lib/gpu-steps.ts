/// <reference types="@webgpu/types" />
// How the WebGPU plan benchmarks time decode steps (bench/webgpu-dense-variants.ts and
// bench/webgpu-sparse-plan.ts share it, so that their numbers compare): a warm-up on the first
// contender until its step time stops falling, then rounds in which every contender's sample (k
// steps, k from the warm-up) is timed by GPU timestamps, all of a round in one command buffer and
// the next round queued before this one is read, so the GPU never idles while the host reads back;
// medians over the rounds.
//
// Why so much care: a GPU's speed on short steps follows its recent load. In H100 run 16 the same
// dense step at n = 32768 (same data, same kernel) took 22.0 µs in one bench and 32.2 µs in the
// other, and every pass of that row, the merge and the gaps between passes included (work that does
// not grow with n), was ~1.46× its time in the first; at n = 131072 (a step bound by DRAM) both gave
// 55.9 µs. Runs 11–16 show the same in other rows (a 131072 row at 92.5 against 55.7 µs in the same
// process; the warm-up's last step 40–51 µs at 32768 where the rounds' median was 24–37 µs: the
// warm-up had stopped while the GPU was still getting faster: samples one a submit, the host's
// read-back between them).
import { timeEachOnGpu, timePasses, type Profiled } from '../../src/webgpu/timing.js';
import { median } from './measure.js';

/** A contender: its k decode steps recorded into an encoder. */
export type Steps = (k: number) => (enc: GPUCommandEncoder) => void;

/** Per-step times of a warm-up's samples (ms), first and last, and whether it settled before its cap. */
export interface Warmup { steps: number; firstStepMs: number; lastStepMs: number; samples: number; settled: boolean }

/** One warm-up sample: when it was read (ms from the warm-up's start) and its per-step time. */
export interface WarmSample { atMs: number; stepMs: number }

/**
 * Whether a warm-up's samples show a GPU that stopped getting faster: at least `warmMs` in, the
 * samples of its last quarter of `warmMs` not > 3 % faster than every sample before, and the last
 * within 3 % of that quarter's best. (Two successive samples within 3 %, the rule before, let a
 * GPU still ramping at ~1 % a sample through.)
 */
export function warmSettled(trace: WarmSample[], warmMs: number): boolean {
  const last = trace.at(-1);
  if (!last || last.atMs < warmMs) return false;
  const from = last.atMs - warmMs / 4;
  const before = trace.filter((s) => s.atMs < from).map((s) => s.stepMs), recent = trace.filter((s) => s.atMs >= from).map((s) => s.stepMs);
  if (before.length === 0 || recent.length < 2) return false;
  const bestRecent = Math.min(...recent);
  return bestRecent >= 0.97 * Math.min(...before) && last.stepMs <= 1.03 * bestRecent;
}

/**
 * Warms the GPU up (its clocks ramp under sustained load, and drop while the host works: H100 runs
 * 9 and 11 timed the sparse-plan bench's first synthetic row, after seconds of host setup and a
 * 500 ms warm-up of 1–2 ms samples, at half the speed the same kernel had minutes apart) with
 * samples of `first`'s steps of ≥ ~4 ms of GPU work each, the next queued before the last is read,
 * until {@link warmSettled} (at most 4·warmMs); then returns the steps a timed sample takes: at
 * least `reps` and at least ~2 ms of `first`'s steps, so timestamps quantized by Dawn (65.5 µs)
 * stay a few % of a sample (at most 500 steps).
 */
export async function warmUp(device: GPUDevice, first: Steps, warmMs: number, reps: number, samples: Samples = 'together'): Promise<Warmup> {
  // Without timestamps a sample's time is submit to done: queued behind another it would count both.
  const ahead = device.features.has('timestamp-query') && samples === 'together';
  const sample = (k: number) => ({ k, result: timeEachOnGpu(device, [first(k)]) });
  const trace: WarmSample[] = [], start = performance.now();
  let k = 50, pending = sample(k), settled = false;
  for (;;) {
    // (None queued once the cap has passed: this read ends the warm-up.)
    const next = ahead && performance.now() - start < 4 * warmMs ? sample(k) : null;
    const [t] = await pending.result;
    const stepMs = (t!.gpuMs ?? t!.submitMs) / pending.k;
    trace.push({ atMs: performance.now() - start, stepMs });
    k = Math.min(2000, Math.max(50, Math.ceil(4 / Math.max(stepMs, 1e-3))));
    settled = warmSettled(trace, warmMs);
    if (settled || trace.at(-1)!.atMs >= 4 * warmMs) {
      if (next) await next.result;
      break;
    }
    pending = next ?? sample(k);
  }
  const lastStepMs = trace.at(-1)!.stepMs;
  return { steps: Math.min(500, Math.max(reps, Math.ceil(2 / Math.max(lastStepMs, 1e-3)))), firstStepMs: trace[0]!.stepMs, lastStepMs, samples: trace.length, settled };
}

/** Per contender (in the order given): its per-step time in every round, and their median. */
export interface Alternation { warm: Warmup; steps: number; samples: number[][]; ms: number[] }

/**
 * How samples reach the GPU: 'together' (the default: a round's in one command buffer, the next
 * round and warm-up sample queued ahead) or 'apart' (each submitted alone and read back before the
 * next, nothing queued ahead: how the benches took samples up to H100 run 16, kept so that a run
 * can time both ways on one GPU; the warm-up's stopping rule is {@link warmSettled} either way).
 */
export type Samples = 'together' | 'apart';

/** A --samples value checked. */
export function samplesOption(value: string | undefined): Samples {
  if (value !== 'together' && value !== 'apart') throw new Error(`--samples: expected together or apart, got ${value}`);
  return value;
}

/** The warm-up on `contenders[0]`, then `rounds` rounds of every contender's sample (see the file's comment). */
export async function timeAlternating(device: GPUDevice, contenders: Steps[],
  o: { warmMs: number; reps: number; rounds: number; samples?: Samples }): Promise<Alternation> {
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`rounds: expected an integer ≥ 1, got ${o.rounds}`);
  const apart = o.samples === 'apart';
  const warm = await warmUp(device, contenders[0]!, o.warmMs, o.reps, o.samples), k = warm.steps;
  const ahead = device.features.has('timestamp-query') && !apart;
  const round = async () => {
    if (!apart) return timeEachOnGpu(device, contenders.map((c) => c(k)));
    const out = [];
    for (const c of contenders) out.push(...await timeEachOnGpu(device, [c(k)]));
    return out;
  };
  const samples = contenders.map(() => [] as number[]);
  let pending = round();
  for (let r = 0; r < o.rounds; r++) {
    const more = r + 1 < o.rounds, next = ahead && more ? round() : null;
    (await pending).forEach((t, i) => samples[i]!.push((t.gpuMs ?? t.submitMs) / k));
    if (more) pending = next ?? round();
  }
  return { warm, steps: k, samples, ms: samples.map((s) => median(s)) };
}

/**
 * The row fields both benches write about how their samples were taken (the same names in each
 * JSON): steps a sample, the warm-up's first and last per-step times, its samples and whether it
 * settled, and the first contender's per-step time in each round (`BASELINE.roundsMs`: drift
 * across the rounds shows a GPU that had not settled).
 */
export function timingFields(t: Alternation, baseline: string): Record<string, unknown> {
  return { stepsPerSample: t.steps, warmFirstStepMs: t.warm.firstStepMs, warmLastStepMs: t.warm.lastStepMs, warmSamples: t.warm.samples,
    warmSettled: t.warm.settled, [`${baseline}.roundsMs`]: t.samples[0] };
}

/** GPU ms a step by pass label (timing.ts timePasses) over `reps` steps; null without timestamps. */
export async function passesPerStep(device: GPUDevice, target: Profiled, steps: Steps, reps: number): Promise<Record<string, number> | null> {
  const p = await timePasses(device, target, steps(reps));
  return p && Object.fromEntries(Object.entries(p).map(([label, ms]) => [label, ms / reps]));
}
