/**
 * A suite's result as written to bench/results/SUITE.json: what was measured, on which machine, how.
 */
import type { BenchConfig, SuiteName } from './config.js';
import type { ColdResult } from './cold.js';
import type { Fig2Result } from './fig2.js';
import type { Machine } from './machine.js';
import type { Timing } from './measure.js';
import type { PeersResult } from './peers.js';
import type { Table3Result } from './table3.js';

export const RESULTS_SCHEMA = 'rankaware-bench/1';

interface Envelope {
  readonly schema: typeof RESULTS_SCHEMA;
  readonly mode: BenchConfig['mode'];
  readonly machine: Machine;
  readonly timing: Timing;
  /** Wall seconds the suite took. */
  readonly seconds: number;
  /** The suite's part of the configuration (models, N, threads). */
  readonly config: unknown;
}

export type SuiteResult = Envelope & (Table3Result | Fig2Result | PeersResult | ColdResult);
export type ResultOf<S extends SuiteName> = Extract<SuiteResult, { suite: S }>;

/** The suites' latest results, by name (any may be missing: a run of one suite keeps the others'). */
export type Results = { [S in SuiteName]?: ResultOf<S> };
