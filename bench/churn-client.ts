/**
 * Bounded connection churn, meant to run in its own process so that the
 * server's heap is measured without the clients in it:
 *
 *   node dist/bench/churn-client.js <ws-url> <cycles> [concurrency=20] [messages=3]
 *
 * Each cycle connects, waits for the welcome, sends `messages` pings and
 * waits for the last pong, then closes and waits for the close. It prints
 * one JSON line with its figures and exits.
 */
import WebSocket from 'ws';

export interface ChurnResult {
  cycles: number;
  errors: number;
  ms: number;
}

function cycle(url: string, messages: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let pongs = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('cycle timed out'));
    }, 10_000);
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'welcome') {
        for (let i = 0; i < messages; i++) ws.send('{"type":"ping"}');
        if (messages === 0) ws.close();
      } else if (message.type === 'pong' && ++pongs === messages) {
        ws.close();
      }
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export async function churn(url: string, cycles: number, concurrency = 20, messages = 3): Promise<ChurnResult> {
  const startedAt = performance.now();
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < cycles) {
      next++;
      await cycle(url, messages).catch(() => errors++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cycles) }, worker));
  return { cycles, errors, ms: Math.round(performance.now() - startedAt) };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const [url, cycles, concurrency, messages] = process.argv.slice(2);
  if (!url || !cycles) {
    process.stderr.write('usage: churn-client <ws-url> <cycles> [concurrency] [messages]\n');
    process.exit(2);
  }
  const result = await churn(url, Number(cycles), Number(concurrency ?? 20), Number(messages ?? 3));
  process.stdout.write(JSON.stringify(result) + '\n');
}
