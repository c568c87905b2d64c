/**
 * A streamed model response as the caller reads it: every chunk passes through a {@link StreamObserver}, which
 * may hide the usage-only chunk tenantscope asked for. Nothing is read ahead of the caller.
 */

/** What follows a streamed body (the per-call tracker). */
export interface StreamObserver {
  /** One chunk as read; returns what the caller gets (the same bytes unless a chunk is hidden). */
  chunk(bytes: Uint8Array): Uint8Array;
  /** The stream ended; returns a tail the caller still gets (the rest of a split event), if any. */
  streamDone(): Uint8Array | undefined;
  /** Reading failed. */
  fail(err: unknown): void;
  /** The caller stopped reading (cancel, or `break` out of the iteration). */
  abandoned(): void;
  /** A read started (`true`: the caller waits on the source) or was answered (`false`). */
  reading(on: boolean): void;
}

/**
 * The body as the caller will read it: pulls from the original only when the caller pulls (high-water mark 0),
 * so nothing is read ahead. The original reader is taken on the first read, so merely looking at `body`
 * (SDK debug logging does) locks nothing.
 */
export function observedWebStream(src: ReadableStream<Uint8Array>, obs: StreamObserver): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl): Promise<void> {
        reader ??= src.getReader();
        obs.reading(true);
        for (;;) {
          let r: { done: boolean; value?: Uint8Array };
          try {
            r = await reader.read();
          } catch (err) {
            obs.fail(err);
            throw err;
          }
          if (r.done) {
            const tail = obs.streamDone();
            if (tail !== undefined && tail.byteLength > 0) ctrl.enqueue(tail);
            ctrl.close();
            return;
          }
          const out = obs.chunk(r.value as Uint8Array);
          if (out.byteLength > 0) {
            obs.reading(false);
            ctrl.enqueue(out);
            return;
          }
        }
      },
      cancel(reason): Promise<void> {
        obs.abandoned();
        return reader !== undefined ? reader.cancel(reason) : src.cancel(reason);
      },
    },
    { highWaterMark: 0 }
  );
}


/** openai 4's node-fetch body: iteration is observed, everything else reaches the original stream. */
export function observedNodeStream(src: AsyncIterable<Uint8Array>, obs: StreamObserver): unknown {
  return new Proxy(src, {
    get(target, prop): unknown {
      if (prop !== Symbol.asyncIterator) return Reflect.get(target, prop, target);
      return function iterate(): AsyncIterator<Uint8Array> {
        const it = target[Symbol.asyncIterator]();
        let tail: Uint8Array | undefined;
        let done = false;
        const iterator: AsyncIterator<Uint8Array> & { [Symbol.asyncIterator](): unknown } = {
          async next(): Promise<IteratorResult<Uint8Array>> {
            for (;;) {
              if (tail !== undefined) {
                const t = tail;
                tail = undefined;
                return { done: false, value: t };
              }
              if (done) return { done: true, value: undefined };
              let r: IteratorResult<Uint8Array>;
              obs.reading(true);
              try {
                r = await it.next();
              } catch (err) {
                obs.fail(err);
                throw err;
              }
              obs.reading(false);
              if (r.done === true) {
                done = true;
                const t = obs.streamDone();
                if (t !== undefined && t.byteLength > 0) tail = Buffer.from(t);
                continue;
              }
              const out = obs.chunk(r.value);
              if (out.byteLength > 0) return { done: false, value: out === r.value ? out : Buffer.from(out) };
            }
          },
          async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
            obs.abandoned();
            if (typeof it.return === 'function') return it.return(value);
            return { done: true, value: undefined };
          },
          [Symbol.asyncIterator]() {
            return iterator;
          },
        };
        return iterator;
      };
    },
  });
}

