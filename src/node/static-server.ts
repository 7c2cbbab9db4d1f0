/**
 * A small static file server for the browser build: the explorer page (`hsr-attn serve`) and the
 * Chromium tests. Every response is cross-origin isolated (COOP/COEP), so pages may use
 * SharedArrayBuffer; nothing outside the mounted folders or files is ever served.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { HsrError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.wasm': 'application/wasm',
  '.map': 'application/json', '.safetensors': 'application/octet-stream',
};

export interface StaticServerOptions {
  /**
   * URL path → file or folder on disk. A key ending in '/' mounts a folder (its files below that
   * path); any other key serves one file. The longest matching key wins.
   */
  mounts: Record<string, string>;
  /** Served at '/' (default: 404). */
  index?: string;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface StaticServer {
  /** `http://HOST:PORT/` */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** The file a URL path names under the mounts, or null (unmounted, or escaping its folder). */
export function resolveMount(mounts: Record<string, string>, path: string): string | null {
  let best: string | null = null;
  for (const key of Object.keys(mounts)) {
    const match = key.endsWith('/') ? path.startsWith(key) : path === key;
    if (match && (best === null || key.length > best.length)) best = key;
  }
  if (best === null) return null;
  const target = mounts[best]!;
  if (!best.endsWith('/')) return target;
  const rest = normalize(path.slice(best.length));
  if (rest.startsWith('..') || rest.startsWith(sep) || rest.includes('\0')) return null;
  return join(target, rest);
}

/** Starts serving; resolves once listening. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new HsrError('BAD_OPTION', `serve: expected a port in [0, 65535], got ${port}`);
  const mounts = { ...options.mounts, ...(options.index ? { '/': options.index } : {}) };
  const server = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = resolveMount(mounts, path);
    let size = -1;
    try {
      if (file !== null) { const s = statSync(file); if (s.isFile()) size = s.size; }
    } catch { /* missing: 404 below */ }
    if (file === null || size < 0) { res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`); return; }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') { res.end(); return; }
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new HsrError('BAD_OPTION', `serve: could not listen on ${host}:${port}: ${e.code ?? e.message}`)));
    server.listen(port, host, () => {
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${actual}/`, server,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}
