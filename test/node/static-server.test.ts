import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsrError } from '../../src/index.js';
import { resolveMount, startStaticServer } from '../../src/node/static-server.js';

/** GET with the path sent exactly as written (no client-side normalisation of '..'). */
function get(url: string, path: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    }).on('error', reject).end();
  });
}

test('resolveMount maps mounted folders and files, longest key first, and nothing else', () => {
  const mounts = { '/dist/': '/srv/dist', '/dist/explorer/': '/srv/page', '/text.txt': '/srv/t.txt' };
  assert.equal(resolveMount(mounts, '/dist/index.js'), join('/srv/dist', 'index.js'));
  assert.equal(resolveMount(mounts, '/dist/explorer/page.js'), join('/srv/page', 'page.js'));
  assert.equal(resolveMount(mounts, '/text.txt'), '/srv/t.txt');
  for (const path of ['/text.txt/x', '/other.js', '/dist/../secret', '/dist/a/../../secret', '/dist//etc/passwd', '/dist/a\0b']) {
    const r = resolveMount(mounts, path);
    assert.ok(r === null || r.startsWith('/srv/dist/'), `${path} → ${r}`);
  }
});

test('startStaticServer serves mounted files cross-origin isolated, 404s everything else, refuses a bad port', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-static-'));
  mkdirSync(join(dir, 'pub'));
  writeFileSync(join(dir, 'pub', 'a.js'), 'export const a = 1;\n');
  writeFileSync(join(dir, 'secret.txt'), 'secret\n');
  writeFileSync(join(dir, 'index.html'), '<!doctype html>\n');
  const server = await startStaticServer({ mounts: { '/pub/': join(dir, 'pub') }, index: join(dir, 'index.html') });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const ok = await get(server.url, '/pub/a.js');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'export const a = 1;\n');
    assert.equal(ok.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(ok.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(ok.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.equal((await get(server.url, '/')).status, 200);
    for (const path of ['/pub/../secret.txt', '/pub/%2e%2e/secret.txt', '/pub/%2E%2E%2Fsecret.txt', '/secret.txt', '/pub/', '/pub/missing.js', '/pub/%zz']) {
      const r = await get(server.url, path);
      assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
      assert.doesNotMatch(r.body, /secret\n/);
    }
    await assert.rejects(startStaticServer({ mounts: {}, port: 70000 }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
    const url = new URL(server.url);
    await assert.rejects(startStaticServer({ mounts: {}, port: Number(url.port) }), (e: unknown) => e instanceof HsrError && /could not listen/.test(e.message));
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
