import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTarget } from '../src/http-util.js';

const target = suite('parseTarget');

/** What the URL parser makes of a target: the parts the tracker reads (undefined if it refuses it). */
function viaUrl(raw: string) {
  let url: URL;
  try {
    url = new URL(raw, 'http://localhost');
  } catch {
    return undefined;
  }
  return { pathname: url.pathname, search: url.search, params: [...url.searchParams] };
}

function parts(raw: string) {
  const t = parseTarget(raw);
  return t === undefined ? undefined : { pathname: t.pathname, search: t.search, params: [...t.searchParams] };
}

target('plain paths and everything else read exactly as the URL parser reads them', () => {
  const fixed = [
    '/ws', '/ws/', '/admin/stream', '/a/b_c-d~e/F9', '/ws?user=alice', '/ws?', '/ws#x', '/ws/../admin/stream', '/./ws',
    '/ws/.', '/%77s', '/w s', '/ws\\x', '/ws?a=1&a=2&b=%20+c', '/wś', '/a//b', '/ws;x', '/ws:1', '/ws%2F',
  ];
  for (const raw of fixed) assert.equal(parts(raw), viaUrl(raw), raw);
  // Random targets from an alphabet heavy in the characters that need care.
  const alphabet = 'ab/._-~%2F?&=#\\ é+;:0';
  for (let i = 0; i < 5000; i++) {
    let raw = '/';
    const length = Math.floor(Math.random() * 12);
    for (let j = 0; j < length; j++) raw += alphabet[Math.floor(Math.random() * alphabet.length)];
    if (raw.startsWith('//')) continue;
    assert.equal(parts(raw), viaUrl(raw), JSON.stringify(raw));
  }
});

target('anything that is not a path is refused', () => {
  for (const raw of [undefined, '', 'ws', 'http://example.com/ws', '//example.com/ws', '*']) assert.is(parseTarget(raw), undefined, String(raw));
});

target.run();
