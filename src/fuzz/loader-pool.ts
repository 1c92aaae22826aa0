/**
 * Child processes that run loader jobs (loader-child.ts), each job under a timeout: a child that does not
 * answer in time is killed and the job counted a hang; one that dies is counted a crash; either way a
 * fresh child takes its place and the next job goes on.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoaderJob, LoaderReply, LoaderResult } from './loader-child.js';

const CHILD = fileURLToPath(new URL('./loader-child.js', import.meta.url));

interface Slot {
  child: ChildProcess;
  busy: boolean;
}

export class LoaderPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  /** Children started, the first ones included (a hang or a crash starts one more). */
  started = 0;

  constructor(
    size: number,
    private readonly timeoutMs: number,
  ) {
    for (let i = 0; i < size; i++) this.slots.push({ child: this.spawn(), busy: false });
  }

  private spawn(): ChildProcess {
    this.started++;
    // Advanced serialization: a job's bytes travel as a Uint8Array. Its own heap bound, so that a
    // runaway allocation ends this child, not the machine.
    const child = fork(CHILD, [], { serialization: 'advanced', execArgv: ['--max-old-space-size=1536'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr!.resume();
    return child;
  }

  private async slot(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy);
      if (free) {
        // Taken at once: another caller must not find it free before this one's await resumes.
        free.busy = true;
        return free;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Run one job: its results, or a single hang or crash result. */
  async run(job: LoaderJob): Promise<readonly LoaderResult[]> {
    const slot = await this.slot();
    const t0 = performance.now();
    try {
      return await new Promise<readonly LoaderResult[]>((resolve) => {
        const child = slot.child;
        const done = (results: readonly LoaderResult[], replace: boolean) => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          if (replace) {
            child.kill('SIGKILL');
            slot.child = this.spawn();
          }
          resolve(results);
        };
        const onMessage = (reply: LoaderReply) => {
          if (reply.id === job.id) done(reply.results, false);
        };
        const onExit = (code: number | null, signal: string | null) =>
          done([{ on: 'child', outcome: 'crash: child died', message: `exit ${code ?? signal} after ${(performance.now() - t0).toFixed(0)} ms` }], true);
        const timer = setTimeout(() => done([{ on: 'child', outcome: 'hang', message: `no answer in ${this.timeoutMs} ms` }], true), this.timeoutMs);
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send(job);
      });
    } finally {
      slot.busy = false;
      this.waiting.shift()?.();
    }
  }

  close(): void {
    for (const s of this.slots) s.child.kill('SIGKILL');
  }
}
