/**
 * A response body's chunks as they arrive, whatever the SDK handed over: a Node stream, an async
 * iterable, bytes, or an SDK stream mixin (read whole). Read by the evidence hash (EBS blocks) and
 * the custody record's transcripts (S3 objects).
 */

/** The chunks of `body`; `unreadable` makes the error for a body that is none of those. */
export async function* bodyChunks(body: unknown, unreadable: () => Error): AsyncGenerator<Uint8Array> {
  if (body === undefined || body === null) return;
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    for await (const c of body as AsyncIterable<Uint8Array | string>) yield typeof c === 'string' ? Buffer.from(c) : c;
    return;
  }
  const t = body as { transformToByteArray?: () => Promise<Uint8Array> };
  if (typeof t.transformToByteArray === 'function') {
    yield await t.transformToByteArray();
    return;
  }
  throw unreadable();
}
