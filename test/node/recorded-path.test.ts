import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordedCommand, recordedPath } from '../../src/node/recorded-path.js';

test('recordedPath keeps no absolute path: relative inside the working directory, /tmp as is, else the last component', () => {
  assert.equal(recordedPath('/srv/checkout/bench/decode.ts', '/srv/checkout'), 'bench/decode.ts');
  assert.equal(recordedPath('bench/results/x.json', '/srv/checkout'), 'bench/results/x.json');
  assert.equal(recordedPath('/srv/checkout', '/srv/checkout'), '.');
  assert.equal(recordedPath('/tmp/before', '/srv/checkout'), '/tmp/before');
  assert.equal(recordedPath('/opt/elsewhere/out', '/srv/checkout'), 'out');
  assert.equal(recordedPath('../elsewhere/out', '/srv/checkout'), 'out');
});

test('recordedCommand rewrites every absolute argument', () => {
  const cwd = process.cwd();
  const c = recordedCommand(['/usr/bin/node', `${cwd}/bench/decode.ts`, '--before', '/tmp/before', '--out', '/opt/r.json'], ['--import', 'tsx']);
  assert.equal(c, 'node --import tsx bench/decode.ts --before /tmp/before --out r.json');
});
