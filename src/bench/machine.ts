/**
 * The machine a benchmark ran on, written into every result: numbers mean nothing without it.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { loadBackend } from '../backends/select.js';
import { peerVersion } from './peer.js';

export interface Machine {
  /** os.cpus()[0].model, as the OS reports it (a VM may name another CPU than the host's). */
  readonly cpu: string;
  /** Logical cores visible to Node (os.availableParallelism). */
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly v8: string;
  /** The WASM variant our backend runs here ('relaxed-simd' has FMA) and why. */
  readonly wasm: string;
  readonly onnxruntimeNode?: string;
  readonly onnxruntimeWeb?: string;
  /** 1-minute load average when the run started: above 0 on an idle machine means neighbours. */
  readonly loadAverage: number;
  /** The checked-out commit, when run from a git checkout. */
  readonly commit?: string;
  /** ISO date and time of the run. */
  readonly date: string;
}

function gitCommit(): string | undefined {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() !== '';
    return dirty ? `${sha}+changes` : sha;
  } catch {
    return undefined;
  }
}

export async function describeMachine(): Promise<Machine> {
  const cpus = os.cpus();
  const wasm = await loadBackend('wasm');
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    wasm: wasm.reason,
    onnxruntimeNode: await peerVersion('ort-node'),
    onnxruntimeWeb: await peerVersion('ort-web'),
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
    commit: gitCommit(),
    date: new Date().toISOString(),
  };
}

/** One line naming the machine, for the summary and the README. */
export function machineLine(m: Machine): string {
  const ort = [m.onnxruntimeNode && `onnxruntime-node ${m.onnxruntimeNode}`, m.onnxruntimeWeb && `onnxruntime-web ${m.onnxruntimeWeb}`].filter(Boolean).join(', ');
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node} (V8 ${m.v8}); ${m.wasm}${ort ? `; ${ort}` : ''}; load average ${m.loadAverage} at start; ${m.date.slice(0, 16).replace('T', ' ')} UTC${m.commit ? `, commit ${m.commit}` : ''}`;
}
