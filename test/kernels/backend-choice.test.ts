import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { it } from 'node:test';
import { createKernels } from '../../src/kernels/index.js';
import { relaxedSimdUsable } from '../../src/kernels/wasm/relaxed.js';
import { simdSupported } from '../../src/kernels/wasm/wasm-api.js';
import { kernelBackendFromEnv } from '../../src/node/kernels-env.js';

const major = Number(process.versions.node.split('.')[0]);

it('createKernels picks the relaxed-SIMD build where its known-answer test passes (Node >= 22), else wasm-simd; js on request; rejects unknown backends', () => {
  assert.equal(simdSupported(), true); // Node 20 has WebAssembly SIMD; the probe must say so
  assert.equal(relaxedSimdUsable(), major >= 22); // on by default from Node 22; Node 20 does not validate it
  const best = major >= 22 ? 'wasm-relaxed-simd' : 'wasm-simd';
  assert.equal(createKernels().name, best);
  assert.equal(createKernels({ backend: 'auto' }).name, best);
  assert.equal(createKernels({ backend: 'wasm' }).name, best);
  assert.equal(createKernels({ backend: 'wasm-simd' }).name, 'wasm-simd');
  assert.equal(createKernels({ backend: 'js' }).name, 'js');
  if (major >= 22) {
    assert.equal(createKernels({ backend: 'wasm-relaxed' }).name, 'wasm-relaxed-simd');
    const q7 = createKernels({ backend: 'wasm-relaxed-q7' });
    assert.deepEqual([q7.name, q7.sweepQueryShift], ['wasm-relaxed-simd-q7', 5]);
  } else {
    assert.throws(() => createKernels({ backend: 'wasm-relaxed' }), { code: 'UNSUPPORTED' });
  }
  assert.throws(() => createKernels({ backend: 'gpu' as never }), { code: 'BAD_OPTION' });
});

/** Node 20 or 21 to run the probe on: this process's Node or the first `node` on PATH outside node_modules. */
function oldNode(): string | null {
  if (major === 20 || major === 21) return process.execPath;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '' || resolve(dir).split(/[\\/]/).includes('node_modules')) continue;
    const node = join(dir, 'node');
    try { accessSync(node, constants.X_OK); } catch { continue; }
    const v = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    return v.startsWith('20.') || v.startsWith('21.') ? node : null;
  }
  return null;
}

it("the known-answer test rejects Node 20's relaxed SIMD behind its flag (Liftoff computes relaxed_dot_i8x16_i7x16_add_s wrongly)", (t) => {
  const node = oldNode();
  if (node === null) { t.skip('no Node 20/21 on this machine'); return; }
  // The child evaluates the module's probe once, cold (Liftoff code), and then the library's check.
  const script = `
    import { KERNELS_RELAXED_WASM_BASE64 } from './src/kernels/wasm/kernels.generated.ts';
    import { decodeBase64 } from './src/kernels/wasm/wasm-api.ts';
    import { relaxedSimdUsable } from './src/kernels/wasm/relaxed.ts';
    const bytes = decodeBase64(KERNELS_RELAXED_WASM_BASE64);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const x = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
    console.log(JSON.stringify({ cold: x.relaxedDotProbe(-3, 5, 100), usable: relaxedSimdUsable() }));`;
  const r = spawnSync(node, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { cold, usable } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { cold: number; usable: boolean };
  assert.equal(cold, -120, 'Node 20 behind the flag computes (−3, 5, acc 100) as −120 in Liftoff (the right answer is 40)');
  assert.equal(usable, false);
});

it('HSR_KERNELS selects the backend in Node code (js, wasm, wasm-simd, wasm-relaxed, wasm-relaxed-q7, auto; unset → auto; anything else → BAD_OPTION)', () => {
  assert.equal(kernelBackendFromEnv({}), 'auto');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: '' }), 'auto');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'js' }), 'js');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'wasm' }), 'wasm');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'wasm-simd' }), 'wasm-simd');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'wasm-relaxed-q7' }), 'wasm-relaxed-q7');
  assert.throws(() => kernelBackendFromEnv({ HSR_KERNELS: 'fast' }), { code: 'BAD_OPTION' });
});
