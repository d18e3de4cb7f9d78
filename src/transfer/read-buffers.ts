import { Transform } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Every socket read gets a fresh 64 KB ArrayBuffer from Node, and it is freed only when V8 collects
 * the Buffer that wraps it. A download allocates almost nothing else on the JS heap, so the young
 * generation never fills and V8 waits for 64 MB of external memory before collecting: measured on a
 * 50 MB image, some 32 MB of spent read buffers stayed resident (glibc's arena and mmap knobs change
 * nothing, the memory is live as far as malloc knows). A scavenge every 256 KB (four reads) frees them at well under a
 * millisecond each; only the young generation is collected, the daemon's old objects are not walked.
 */
const RELEASE_EVERY_BYTES = 256 * 1024;

let scavenge: (() => void) | undefined;

/** V8's own collector, reached through a context created after --expose-gc (the main one has no gc). */
function scavenger(): () => void {
  if (scavenge === undefined) {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    scavenge = typeof gc === 'function' ? () => gc({ type: 'minor' }) : () => undefined;
  }
  return scavenge;
}

/** Passes a download's chunks through, collecting the spent read buffers every `everyBytes`. */
export function releasingReadBuffers(everyBytes = RELEASE_EVERY_BYTES): Transform {
  const collect = scavenger();
  let sinceLast = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sinceLast += chunk.length;
      if (sinceLast >= everyBytes) {
        sinceLast = 0;
        collect();
      }
      done(null, chunk);
    },
  });
}
