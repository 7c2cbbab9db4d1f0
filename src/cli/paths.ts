/** Where the vendored models and data are: beside dist/ (or src/) in the package root. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'models', 'bytelm-10m');
export const RELU_MODEL = join(PACKAGE_ROOT, 'models', 'bytelm-relu-10m');
export const DEV_TEXT = join(PACKAGE_ROOT, 'data', 'dev_c.txt');
