import { KERNELS_RELAXED_WASM_BASE64 } from './kernels.generated.js';
import { decodeBase64, wasmApi } from './wasm-api.js';

/**
 * Known answers of i32x4.relaxed_dot_i8x16_i7x16_add_s on splatted lanes, (a, b, c) → 4·a·b + c:
 * the instruction as the relaxed sweep uses it (a an int8 code, b a 7-bit query byte in [0, 127]).
 * Node 20 (behind --experimental-wasm-relaxed-simd) and Node 21 validate relaxed SIMD but their
 * baseline compiler (Liftoff) computes this wrongly — (−3, 5, 100) gives −120, not 40 — while
 * their optimising tier is right, so validation alone would pick a module that gives wrong dots
 * until V8 tiers it up. The first calls of a wasm function run Liftoff code, so the check calls
 * the probe cold, then often enough that later tiers (where the host tiers up by then) agree too.
 */
const KNOWN: readonly (readonly [number, number, number])[] = [
  [-3, 5, 100], [-128, 127, 0], [127, 127, -7], [-1, 1, 0], [100, 64, 1 << 20], [0, 0, 0], [-77, 33, -123456],
];
/** Calls after the cold ones: V8 tiers a hot function up after a few hundred calls or loop iterations. */
const WARM_CALLS = 5000;

let usable: boolean | undefined;

/**
 * Whether this host runs the relaxed-SIMD kernels correctly: the module validates (relaxed SIMD
 * is on by default from V8 11.4, Node 22, and in current browsers) and its dot probe gives the
 * known answers, cold and warm. Checked once per process (instantiating the module with a
 * one-page memory, about a millisecond).
 */
export function relaxedSimdUsable(): boolean {
  usable ??= probe();
  return usable;
}

function probe(): boolean {
  const api = wasmApi();
  if (api === null) return false;
  try {
    const bytes = decodeBase64(KERNELS_RELAXED_WASM_BASE64);
    if (!api.validate(bytes)) return false;
    const memory = new api.Memory({ initial: 1, maximum: 65536 });
    const { relaxedDotProbe } = new api.Instance(new api.Module(bytes), { env: { memory } }).exports as
      { relaxedDotProbe(a: number, b: number, c: number): number };
    const right = ([a, b, c]: readonly [number, number, number]): boolean => relaxedDotProbe(a, b, c) === 4 * a * b + c;
    if (!KNOWN.every(right)) return false; // cold: the baseline tier
    for (let i = 0; i < WARM_CALLS; i++) if (!right(KNOWN[i % KNOWN.length]!)) return false;
    return true;
  } catch {
    return false;
  }
}
