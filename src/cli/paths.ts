/** Where the library's own files are (the package root, beside dist/ or src/), and the vendored models' names. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEV_TEXT = join(PACKAGE_ROOT, 'data', 'dev_c.txt');
/** Vendored model folders are found by name through src/node/vendored-models.ts. */
export const SOFTMAX_MODEL_NAME = 'bytelm-10m';
export const RELU_MODEL_NAME = 'bytelm-relu-10m';
/** The models trained with long-range retrieval tasks (softmax and ReLU²): `hsr-attn eval`'s. */
export const RECALL_MODEL_NAME = 'bytelm-recall-10m';
export const RELU_RECALL_MODEL_NAME = 'bytelm-relu-recall-10m';
/** Plain English prose no model saw in training: `hsr-attn eval`'s default haystack. */
export const HAYSTACK_TEXT = join(PACKAGE_ROOT, 'data', 'factbook-backgrounds.txt');
