import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread running the module `file` (a path relative to `base`, an import.meta.url,
 * written with the `.js` extension). When `base` is a TypeScript source (tests and benchmarks run
 * under tsx), the worker registers tsx's loader first and imports the `.ts` file instead.
 */
export function spawnWorker(base: string, file: string, workerData: unknown): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(file, base), { workerData });
  const url = new URL(file.replace(/\.js$/, '.ts'), base);
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(code, { eval: true, workerData });
}
