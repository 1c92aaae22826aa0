/**
 * Run a benchmark job in a fresh Node process (./child.ts) and collect its result; progress ticks
 * arrive as they happen. From TypeScript sources (tests, tsx) the child runs under tsx too.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ColdProbe } from './cold-probe.js';
import type { PeersConfig } from './config.js';
import type { Timing } from './measure.js';

export type ChildJob =
  | { readonly kind: 'cold'; readonly probe: ColdProbe }
  | { readonly kind: 'peers'; readonly config: PeersConfig; readonly threads: number; readonly timing: Timing };

export type ChildMessage = { readonly type: 'tick'; readonly label: string } | { readonly type: 'result'; readonly value: unknown } | { readonly type: 'error'; readonly message: string };

const fromSource = import.meta.url.endsWith('.ts');
const CHILD = fileURLToPath(new URL(fromSource ? './child.ts' : './child.js', import.meta.url));

export function runInChild<T>(job: ChildJob, onTick: (label: string) => void = () => {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { execArgv: fromSource ? ['--import', 'tsx'] : [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let settled = false;
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'tick') onTick(m.label);
      else if (m.type === 'result') {
        settled = true;
        resolve(m.value as T);
      } else {
        settled = true;
        reject(new Error(`benchmark child (${job.kind}): ${m.message}`));
      }
    });
    child.on('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    child.on('exit', (code, signal) => {
      if (!settled) reject(new Error(`benchmark child (${job.kind}) exited with ${signal ?? code} before its result${stderr ? `: ${stderr.trim()}` : ''}`));
      settled = true;
    });
    child.send(job);
  });
}
