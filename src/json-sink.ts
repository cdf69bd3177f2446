/**
 * Where a long JSON text goes while it is being made, part by part: an
 * admin's snapshot goes straight into the bytes sent (fragment-writer.ts),
 * GET /active-users into one string. Passing the parts on as they are
 * made avoids a second copy of a list that can run to many megabytes.
 */
export interface JsonSink {
  /** Append `text`. */
  write(text: string): void;
  /** Called once, after the last write. */
  end(): void;
}

/** What writes a whole JSON text into a sink, ending it. */
export type JsonProducer = (sink: JsonSink) => void;

/** The text `produce` writes, as one string. */
export function jsonText(produce: JsonProducer): string {
  const parts: string[] = [];
  produce({ write: (text) => void parts.push(text), end() {} });
  return parts.join('');
}

/**
 * Run `produce` once and keep what it wrote, to write the same text into
 * several sinks: one resync snapshot for every admin of a node.
 */
export function recordJson(produce: JsonProducer): JsonProducer {
  const texts: string[] = [];
  produce({ write: (text) => void texts.push(text), end() {} });
  return (sink) => {
    for (const text of texts) sink.write(text);
    sink.end();
  };
}
