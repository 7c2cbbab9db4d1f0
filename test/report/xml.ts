// A strict-enough XML well-formedness check for the generated SVGs (not a test file itself):
// one root element, every tag closed in order, attributes quoted, no stray '<' or bare '&'.
import assert from 'node:assert/strict';

export function assertWellFormedXml(doc: string): { root: string; elements: Map<string, number> } {
  const stack: string[] = [];
  const elements = new Map<string, number>();
  let root = '', pos = 0;
  const text = (s: string) => {
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(s), `bare & in ${JSON.stringify(s.slice(0, 60))}`);
  };
  for (const m of doc.matchAll(/<[^>]*>/g)) {
    const between = doc.slice(pos, m.index);
    assert.ok(!between.includes('<'), 'stray < in text');
    text(between);
    if (stack.length === 0) assert.equal(between.trim(), '', 'text outside the root element');
    pos = m.index! + m[0].length;
    const tag = m[0];
    if (tag.startsWith('<?') || tag.startsWith('<!--')) continue;
    if (tag.startsWith('</')) {
      const name = tag.slice(2, -1).trim();
      assert.equal(stack.pop(), name, `closing </${name}> does not match`);
      continue;
    }
    const inner = tag.slice(1, tag.endsWith('/>') ? -2 : -1);
    const name = /^[A-Za-z][\w:.-]*/.exec(inner)?.[0];
    assert.ok(name, `bad tag ${tag.slice(0, 40)}`);
    const attrs = inner.slice(name.length);
    assert.match(attrs, /^(\s+[\w:.-]+="[^"<]*")*\s*$/, `bad attributes in ${tag.slice(0, 80)}`);
    text(attrs);
    if (stack.length === 0) { assert.equal(root, '', 'more than one root element'); root = name; }
    elements.set(name, (elements.get(name) ?? 0) + 1);
    if (!tag.endsWith('/>')) stack.push(name);
  }
  assert.equal(stack.length, 0, `unclosed <${stack.join('>, <')}>`);
  assert.equal(doc.slice(pos).trim(), '', 'text after the root element');
  return { root, elements };
}
