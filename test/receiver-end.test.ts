import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket, WebSocketServer } from 'ws';
import { ClosingWebSocket } from '../src/closing-websocket.js';
import { endReceiverOnce, spareRedundantEnds } from '../src/receiver-end.js';

function sink(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

const endOnce = suite('endReceiverOnce');

endOnce('the first end() ends the stream as Writable.end does', async () => {
  const w = sink();
  w.end = endReceiverOnce;
  const finished = once(w, 'finish');
  assert.is(w.end(), w);
  await finished;
  assert.ok(w.writableFinished);
});

/** Counts the calls that reach the class's end(), where Writable builds its thrown-away error. */
class CountingSink extends Writable {
  ends = 0;
  constructor() {
    super({ write: (_chunk, _encoding, done) => done() });
  }
  override end(...args: unknown[]): this {
    this.ends++;
    return (Writable.prototype.end as (...a: unknown[]) => this).apply(this, args);
  }
}

endOnce('a bare end() on an ended stream returns at once, without reaching Writable.end', async () => {
  const w = new CountingSink();
  (w as Writable).end = endReceiverOnce;
  w.end();
  await once(w, 'finish');
  let errors = 0;
  w.on('error', () => errors++);
  assert.is(w.end(), w);
  assert.is(w.end(), w);
  await new Promise((r) => setImmediate(r));
  assert.is(w.ends, 1, 'only the first end() went through');
  assert.is(errors, 0);
  assert.ok(w.writableFinished);
});

endOnce('a call with a callback still gets Writable\'s answer', async () => {
  const w = sink();
  w.end = endReceiverOnce;
  w.end();
  await once(w, 'finish');
  const err = await new Promise<Error | null | undefined>((resolve) => w.end(resolve));
  assert.is((err as NodeJS.ErrnoException | null)?.code, 'ERR_STREAM_ALREADY_FINISHED');
});

endOnce('spareRedundantEnds leaves alone what is not a plain Writable', () => {
  const own = Object.assign(sink(), { end: () => 'own' });
  spareRedundantEnds(own);
  assert.is.not(own.end, endReceiverOnce, 'an end() of its own is kept');
  assert.not.throws(() => spareRedundantEnds(undefined));
  assert.not.throws(() => spareRedundantEnds({ end: 1 }));
});

const wired = suite('ClosingWebSocket spares ws\'s redundant receiver ends');

wired('a server socket\'s receiver ends once; ws still asks again after a clean close', async () => {
  const wss = new WebSocketServer({ port: 0, WebSocket: ClosingWebSocket });
  let client: WebSocket | undefined;
  try {
    await once(wss, 'listening');
    client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    const [[server]] = (await Promise.all([once(wss, 'connection'), once(client, 'open')])) as [[ClosingWebSocket], unknown];
    const receiver = (server as unknown as { _receiver: Writable })._receiver;
    assert.is(receiver.end, endReceiverOnce, 'installed by setSocket');
    // Count the calls that come after the receiver has ended: each one
    // would have built a thrown-away error with Writable's own end().
    let redundant = 0;
    receiver.end = function (this: Writable, ...args: unknown[]) {
      if (args.length === 0 && this.writableEnded) redundant++;
      return endReceiverOnce.apply(this, args);
    };
    const closed = once(server, 'close');
    client.close(1000, 'bye');
    const [code] = await closed;
    assert.is(code, 1000, 'the close completes as usual');
    assert.ok(redundant >= 1, `ws ended the receiver again after it had ended (${redundant} times)`);
  } finally {
    client?.terminate();
    wss.close();
  }
});

endOnce.run();
wired.run();
