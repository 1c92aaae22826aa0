/**
 * A full, memory-reducing garbage collection on demand, for Node (the server's idle collection and the
 * workers'). After a burst, what it left is garbage, but an idle process allocates nothing that would make
 * V8 collect it, so RSS stays where the burst left it. V8's gc() is reached without --expose-gc on the
 * command line: the flag is set at run time and gc() taken from a fresh context, so the process's own
 * global gains nothing.
 */
type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' } | { type: 'minor' }) => void;

let exposed: Gc | undefined;

function v8Gc(): Gc {
  if (!exposed) {
    const v8 = process.getBuiltinModule('node:v8') as typeof import('node:v8');
    const vm = process.getBuiltinModule('node:vm') as typeof import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    exposed = vm.runInNewContext('gc') as Gc;
  }
  return exposed;
}

/**
 * A young-generation collection (a millisecond or two): frees the native memory of Buffers that died
 * young. V8 collects those only when its own young heap fills or external memory has grown ~64 MiB, and a
 * stream of request bytes is mostly native memory behind tiny objects.
 */
export function collectYoung(): void {
  v8Gc()({ type: 'minor' });
}

export function collectGarbage(): void {
  const gc = v8Gc();
  // Two full collections: the first runs the weak callbacks of dead Buffers and sockets, which is what
  // lets the second free their memory (one alone freed 3 of 67 MiB after the attack suite). Then V8's
  // memory-reducing flavor compacts and gives emptied pages back to the system.
  gc();
  gc();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * Collect once the caller has been idle `idleMs` after at least `burst` events: `touch()` on each event.
 * `touch` is on the hot path (every worker call), so it only counts and stamps the time; one timer,
 * re-aimed at the last event when it fires early, decides. It never keeps a process alive.
 */
export function idleCollector(idleMs: number, burst: number): { touch(): void; dispose(): void } {
  let events = 0;
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const quiet = performance.now() - last;
    if (quiet < idleMs) return schedule(idleMs - quiet);
    timer = undefined;
    events = 0;
    collectGarbage();
  };
  const schedule = (ms: number) => {
    timer = setTimeout(check, ms);
    (timer as { unref?: () => void }).unref?.();
  };
  return {
    touch() {
      last = performance.now();
      if (++events >= burst && timer === undefined) schedule(idleMs);
    },
    dispose() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
