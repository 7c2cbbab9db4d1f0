/**
 * onnxruntime-node baseline: dense grouped-query decode attention as a tiny ONNX graph, written
 * with a minimal protobuf encoder (no python, no onnx package):
 *
 *   q  [kvHeads, group, d]   kT [kvHeads, d, n]   v [kvHeads, n, dv]
 *   s = MatMul(q, kT) · scale → Softmax(axis −1) → MatMul(·, v) → out [kvHeads, group, dv]
 *
 * Keys are fed pre-transposed (a layout choice an ORT-based cache would make), so each run reads
 * K and V once, like our dense decoder. Loaded lazily: the benchmark skips it when the package is
 * missing.
 */

// --- protobuf wire format: varints, length-delimited fields ---
function varint(value: number): number[] {
  // Negative int64 values are written as their 64-bit two's complement (10 bytes).
  let x = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (x > 127n) { out.push(Number(x & 127n) | 128); x >>= 7n; }
  out.push(Number(x));
  return out;
}
const key = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, x: number) => [...key(field, 0), ...varint(x)];
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);

// --- ONNX messages (field numbers from onnx.proto3) ---
function node(op: string, inputs: string[], outputs: string[], attrs: number[][] = []): number[] {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, outputs[0]!), ...str(4, op),
    ...attrs.flatMap((a) => bytes(5, a))];
}
const intAttr = (name: string, x: number) => [...str(1, name), ...int(20, 2), ...int(3, x)];
function valueInfo(name: string, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, 1 /* FLOAT */), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}
function scalarInitializer(name: string, x: number): number[] {
  const raw = [...new Uint8Array(new Float32Array([x]).buffer)];
  return [...int(2, 1 /* FLOAT */), ...str(8, name), ...bytes(9, raw)];
}

/** The serialized model (ModelProto) for the graph above. */
export function attentionModel(kvHeads: number, group: number, d: number, dv: number, scale: number): Uint8Array {
  const graph = [
    ...bytes(1, node('MatMul', ['q', 'kT'], ['s'])),
    ...bytes(1, node('Mul', ['s', 'scale'], ['l'])),
    ...bytes(1, node('Softmax', ['l'], ['p'], [intAttr('axis', -1)])),
    ...bytes(1, node('MatMul', ['p', 'v'], ['out'])),
    ...str(2, 'gqa_decode'),
    ...bytes(5, scalarInitializer('scale', scale)),
    ...bytes(11, valueInfo('q', [kvHeads, group, d])),
    ...bytes(11, valueInfo('kT', [kvHeads, d, 'n'])),
    ...bytes(11, valueInfo('v', [kvHeads, 'n', dv])),
    ...bytes(12, valueInfo('out', [kvHeads, group, dv])),
  ];
  const model = [...int(1, 8 /* ir_version */), ...str(2, 'hsr-attention-bench'), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, 17)])];
  return Uint8Array.from(model);
}

export interface OrtDecoder {
  /** Runs the graph for queries [kvHeads·group, d]; returns [heads, dv]. */
  run(queries: Float32Array): Promise<Float32Array>;
}

/**
 * An ORT session with `threads` intra-op threads over K/V given token-major per KV head
 * (kHeads[g]: [n, d], vHeads[g]: [n, dv]); null when onnxruntime-node is not installed.
 */
export async function createOrtDecoder(kHeads: Float32Array[], vHeads: Float32Array[], n: number, group: number,
  d: number, dv: number, scale: number, threads: number): Promise<OrtDecoder | null> {
  let ort: typeof import('onnxruntime-node');
  try { ort = await import('onnxruntime-node'); } catch { return null; }
  const kvHeads = kHeads.length;
  const session = await ort.InferenceSession.create(attentionModel(kvHeads, group, d, dv, scale), {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
    // ORT's pool threads otherwise spin after each run and steal the cores from whatever runs next.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const kT = new Float32Array(kvHeads * d * n), v = new Float32Array(kvHeads * n * dv);
  for (let g = 0; g < kvHeads; g++) {
    const k = kHeads[g]!;
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) kT[(g * d + c) * n + i] = k[i * d + c]!;
    v.set(vHeads[g]!.subarray(0, n * dv), g * n * dv);
  }
  const kTensor = new ort.Tensor('float32', kT, [kvHeads, d, n]);
  const vTensor = new ort.Tensor('float32', v, [kvHeads, n, dv]);
  return {
    async run(queries) {
      const q = new ort.Tensor('float32', queries, [kvHeads, group, d]);
      const r = await session.run({ q, kT: kTensor, v: vTensor });
      return r['out']!.data as Float32Array;
    },
  };
}
