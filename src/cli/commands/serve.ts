/** `hsr-attn serve`: the explorer page, its library build, the vendored models and text, offline. */
import { join } from 'node:path';
import { startStaticServer, type StaticServerOptions } from '../../node/static-server.js';
import type { Command } from '../command.js';
import { vendoredModelDir, vendoredModelNames } from '../../node/vendored-models.js';
import { DEV_TEXT, PACKAGE_ROOT } from '../paths.js';

/** What the explorer loads, by URL path (page.ts and worker.ts resolve these relative to dist/explorer/). */
export function explorerMounts(): StaticServerOptions['mounts'] {
  const mounts: StaticServerOptions['mounts'] = {
    '/dist/': join(PACKAGE_ROOT, 'dist'),
    '/explorer/': join(PACKAGE_ROOT, 'explorer'),
    '/text.txt': DEV_TEXT,
  };
  for (const name of vendoredModelNames()) mounts[`/models/${name}/`] = vendoredModelDir(name);
  return mounts;
}

export const EXPLORER_PAGE = join(PACKAGE_ROOT, 'explorer', 'index.html');

export const serveCommand: Command = {
  name: 'serve',
  usage: 'hsr-attn serve [--port P] [--host 127.0.0.1]',
  brief: 'serve the attention explorer page locally (offline); prints its URL first',
  summary: [
    'Serves the explorer: pick the softmax or ReLU² model, a text and attention modes; see bits/byte,',
    'tokens/s, per-token NLL against dense, keys used per layer × head with certified bounds, live',
    'generation dense vs sparse, and decode speed as the context grows, all computed in the browser.',
    'The first line on stdout is the URL. Runs until interrupted (Ctrl-C).',
  ].join('\n'),
  options: {
    port: { type: 'integer', value: 'P', default: 8137, help: 'TCP port (0: any free port)' },
    host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
  },
  async run(args) {
    const server = await startStaticServer({ mounts: explorerMounts(), index: EXPLORER_PAGE, host: args.host as string, port: args.port as number });
    process.stdout.write(`${server.url}\n`);
    process.stderr.write('hsr-attn serve: open the URL above in a browser; Ctrl-C stops the server\n');
    await new Promise<void>((resolve) => {
      const stop = () => { void server.close().then(resolve); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
