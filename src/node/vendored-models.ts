/**
 * Where the vendored models are. They ship in their own npm package, `hsr-attention-models` (one
 * folder per model: HF config.json + safetensors), so the library's tarball stays small; in this
 * repository that package is the npm workspace `packages/hsr-attention-models`, linked into
 * node_modules by `npm ci`. The package is found the way Node finds any package, from this file's
 * location, so the same code works in a checkout, in a project that installed both packages and in
 * a global install of both. This is the one place that knows the layout: code that needs a vendored
 * model folder calls `vendoredModelDir(name)`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HsrError } from '../errors.js';

export const MODELS_PACKAGE = 'hsr-attention-models';

/** The installed models package's folder; `NOT_FOUND` saying how to install it when it is missing. */
export function vendoredModelsRoot(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${MODELS_PACKAGE}/package.json`));
  } catch {
    throw new HsrError('NOT_FOUND',
      `expected the package ${MODELS_PACKAGE} (the vendored models) to be installed beside hsr-attention, got none; ` +
      `install it with \`npm install ${MODELS_PACKAGE}\` (in a clone of the repository: \`npm ci\`, which links its ` +
      `workspace packages/${MODELS_PACKAGE}); perplexity and generate also take --model DIR, a model folder of your own`);
  }
}

/** Names of the vendored models: the package's folders that hold a config.json, sorted. */
export function vendoredModelNames(): string[] {
  const root = vendoredModelsRoot();
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'config.json')))
    .map((e) => e.name)
    .sort();
}

/** The folder of the vendored model `name` (e.g. 'bytelm-10m'), ready for `loadModel`. */
export function vendoredModelDir(name: string): string {
  // A bare folder name: a path here would reach outside the package.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new HsrError('BAD_OPTION', `expected a vendored model name such as "bytelm-10m", got ${JSON.stringify(name)}`);
  }
  const dir = join(vendoredModelsRoot(), name);
  if (!existsSync(join(dir, 'config.json'))) {
    throw new HsrError('NOT_FOUND',
      `expected a vendored model named "${name}" (one of: ${vendoredModelNames().join(', ')}), got none at ${dir}`);
  }
  return dir;
}
