// The package root must load in a browser through an import map or a bundler: every module on
// dist/index.js's import graph is reached by a relative path, and none is a Node built-in or a
// bare package name a browser could not resolve. Walks the built graph (npm ci runs the build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const BUILTINS = new Set(builtinModules);

/** Module specifiers of static imports, re-exports and dynamic imports with a string literal. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [/^\s*(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const p of patterns) for (const m of source.matchAll(p)) out.push(m[1]!);
  return out;
}

/** Every module file reachable from `entry`, and every specifier a browser could not load. */
function walk(entry: string): { files: string[]; problems: string[] } {
  const seen = new Set<string>(), problems: string[] = [], todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const where = relative(DIST, file);
      if (spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0]!)) problems.push(`${where}: Node built-in ${spec}`);
      else if (!spec.startsWith('./') && !spec.startsWith('../')) problems.push(`${where}: bare specifier ${spec}`);
      else {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) problems.push(`${where}: ${spec} does not exist`);
        else todo.push(target);
      }
    }
  }
  return { files: [...seen], problems };
}

test('specifiers() finds static, re-export, side-effect and dynamic imports', () => {
  const src = "import { a } from './a.js';\nexport * from \"../b.js\";\nimport 'node:fs';\nconst m = await import('node:path');\nexport { c,\n  d } from './c.js';";
  assert.deepEqual(specifiers(src).sort(), ['../b.js', './a.js', './c.js', 'node:fs', 'node:path'].sort());
});

test('dist/index.js imports no node: module, Node built-in or bare package name on its whole graph', () => {
  const entry = resolve(DIST, 'index.js');
  assert.ok(existsSync(entry), 'dist/index.js: run npm run build first');
  const { files, problems } = walk(entry);
  assert.ok(files.length > 20, `expected the whole core graph, got ${files.length} modules`);
  assert.deepEqual(problems, []);
  // The walk itself must catch a Node import: dist/node/index.js has them.
  assert.ok(walk(resolve(DIST, 'node', 'index.js')).problems.some((p) => p.includes('node:')));
});
