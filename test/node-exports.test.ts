import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as node from '../src/node/index.js';
import * as core from '../src/index.js';

// The names README.md and docs/api.md promise; a re-export lost in a merge fails here, not in a user's build.
test('the package root and hsr-attention/node export the documented names', () => {
  for (const name of ['matrix', 'HalfSpaceIndex', 'attention', 'KVCache', 'HsrError', 'AttentionState', 'mergeStates', 'DenseDecoder', 'DecodePool', 'createKernels', 'evaluateTask', 'makeTrials', 'ByteTokenizer']) {
    assert.ok(name in core, `root export ${name}`);
  }
  for (const name of ['loadModel', 'loadCheckpoint', 'readSafetensors', 'writeFileAtomic', 'DecodePool', 'kernelBackendFromEnv', 'vendoredModelDir', 'vendoredModelNames', 'loadTokenizer', 'HfTokenizer']) {
    assert.ok(name in node, `hsr-attention/node export ${name}`);
  }
});
