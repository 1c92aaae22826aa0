/**
 * The ort backend in a page: the rank-aware graphs on onnxruntime-web, which the page imports itself and
 * passes in (`import * as ort from 'onnxruntime-web/webgpu'`), so that rankaware never bundles it and the
 * page picks its build and its execution providers: 'webgpu', 'webnn', 'wasm'. onnxruntime-web runs its
 * sessions off the page's thread itself (its proxy worker, ort.env.wasm.proxy) and sets its wasm threads
 * globally (ort.env.wasm.numThreads): `threads` and `workers` do not apply.
 */
import type { ImportedModel } from '../model.js';
import { InThreadRunner } from './runner.js';
import type { OrtModule } from './runner.js';
import { OrtScorer } from './scorer.js';
import type { OrtScorerOptions } from './scorer.js';

/** onnxruntime's log levels by severity (the index is a session's logSeverityLevel). */
const LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'];
const severity = (level: string | undefined) => (level && LOG_LEVELS.includes(level) ? LOG_LEVELS.indexOf(level) : LOG_LEVELS.indexOf('warning'));

export type OrtWebScorerOptions = Omit<OrtScorerOptions, 'threads' | 'workers'> & {
  /** The onnxruntime-web module the page imported. */
  readonly ort: unknown;
};

export function createOrtWebScorer(model: ImportedModel, options: OrtWebScorerOptions): Promise<OrtScorer> {
  const { ort, ...rest } = options;
  return OrtScorer.start(model, rest, {
    name: 'onnxruntime-web',
    defaultProviders: ['wasm'],
    // The page's ort.env.logLevel applies to the sessions' own log too (onnxruntime-web logs node placement warnings).
    sessionOptions: (_threads, providers) => ({ executionProviders: [...providers], logSeverityLevel: severity((ort as { env?: { logLevel?: string } }).env?.logLevel) }),
    start: (sessions) => InThreadRunner.create(ort as OrtModule, sessions),
    workersRefused: 'no workers option on onnxruntime-web (it has its own proxy worker: ort.env.wasm.proxy)',
  });
}
