/**
 * The entry of a benchmark child process (forked by ./fork.ts): runs one job in a fresh process and
 * sends back its result. Fresh processes are how the cold suite sees a true cold start, and how the
 * peers suite gives onnxruntime-web the thread count it fixes once per process.
 *
 * Only node: modules are imported before the job arrives, so that a cold probe times every import of
 * the runtime it measures.
 */
import type { ChildJob, ChildMessage } from './fork.js';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

async function run(job: ChildJob): Promise<unknown> {
  const tick = (label: string) => void send({ type: 'tick', label });
  switch (job.kind) {
    case 'cold':
      return (await import('./cold-probe.js')).probeCold(job.probe);
    case 'peers':
      return (await import('./peers.js')).measurePeersAt(job.config, job.threads, job.timing, tick);
  }
}

process.once('message', (job: ChildJob) => {
  run(job).then(
    async (value) => {
      await send({ type: 'result', value });
      process.exit(0);
    },
    async (e: unknown) => {
      await send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
      process.exit(1);
    },
  );
});
