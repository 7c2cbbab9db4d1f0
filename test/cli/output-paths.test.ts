// Output paths that cannot be written fail at once with HsrError IO_ERROR, before the run whose
// result they would hold: a folder without write permission (EACCES: the CLI runs as an
// unprivileged user, since root writes anywhere), a path under a regular file (ENOTDIR), and a path
// under /proc (where Node's recursive mkdir never returns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Root bypasses permission bits: the CLI runs as `nobody` then, so a read-only folder refuses it as it refuses a user. */
const unprivileged: SpawnSyncOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

function cli(args: string[], options: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const BENCH = ['bench', 'decode', '--n', '64', '--workload', 'gaussian', '--rounds', '1'];

/**
 * Why `nobody` cannot run the CLI from this checkout (a clone inside a private folder, e.g. one made
 * by mktemp, is closed to other users), or null when it can.
 */
function unprivilegedBlocked(): string | null {
  // The CLI's own start (Node, tsx resolved by absolute path, the entry file): a relative access
  // check alone passes in a private folder, since the child enters its cwd before dropping to 65534.
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', 'require("node:fs").accessSync("src/cli/main.ts")'], { cwd: root, encoding: 'utf8', ...unprivileged });
  return r.status === 0 ? null : `user 65534 cannot run Node in this checkout (${r.error?.message ?? String(r.stderr).split('\n').find((l) => /Error/.test(l))?.trim()})`;
}

test('reproduce --out and bench --out in a folder without write permission: IO_ERROR EACCES before any work', (t) => {
  const blocked = unprivilegedBlocked();
  if (blocked !== null) { t.skip(blocked); return; }
  const dir = mkdtempSync(join(tmpdir(), 'hsr-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const ro = join(dir, 'read-only');
  mkdirSync(ro, { mode: 0o555 });
  chmodSync(ro, 0o555);
  const r = cli(['reproduce', '--quick', '--out', join(ro, 'out')], unprivileged);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /reproduce: IO_ERROR: expected a writable folder at .*EACCES/);
  const b = cli([...BENCH, '--out', join(ro, 'bench.json')], unprivileged);
  assert.equal(b.status, 1, b.stderr);
  assert.match(b.stderr, /bench: IO_ERROR: expected a writable file at .*EACCES/);
  assert.equal(b.stdout, '', 'no result: the run never started');
  assert.ok(!existsSync(join(ro, 'out')));
});

test('an output path under a regular file: IO_ERROR ENOTDIR before any work; a writable --out gets the result', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-out-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  const r = cli(['reproduce', '--quick', '--out', join(file, 'out')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /IO_ERROR: expected a writable folder at .*ENOTDIR/);
  const b = cli([...BENCH, '--out', join(file, 'bench.json')]);
  assert.equal(b.status, 1, b.stderr);
  assert.match(b.stderr, /IO_ERROR: expected a writable file at .*ENOTDIR/);
  assert.equal(b.stdout, '');
  const folder = cli([...BENCH, '--out', dir]);
  assert.equal(folder.status, 1, folder.stderr);
  assert.match(folder.stderr, /expected a writable file at .*EISDIR/);
  const ok = cli([...BENCH, '--out', join(dir, 'new', 'bench.json'), '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(existsSync(join(dir, 'new', 'bench.json')));
});

test('an output path under /proc fails instead of hanging', { skip: !existsSync('/proc/self') && 'no /proc' }, () => {
  const r = cli(['reproduce', '--quick', '--out', '/proc/self/hsr-out'], { timeout: 60_000 });
  assert.equal(r.status, 1, `status ${r.status} (null: killed after 60 s)\n${r.stderr}`);
  assert.match(r.stderr, /IO_ERROR: expected a writable folder/);
  const b = cli([...BENCH, '--out', '/proc/self/hsr-out/bench.json'], { timeout: 60_000 });
  assert.equal(b.status, 1, `status ${b.status}\n${b.stderr}`);
  assert.match(b.stderr, /IO_ERROR: expected a writable file/);
});
