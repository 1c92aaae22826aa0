/**
 * The CLI's ort pieces: `score --backend ort` and `export-onnx --plan rank-aware`, on any model directory
 * (rankaware's format, compiled from its export, or an imported graph).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelDir } from '../../node.js';
import { compileModel } from '../native-graph.js';
import { isCompiledDir, loadCompiledDir } from '../dir.js';
import type { ImportedModel } from '../model.js';
import { exportRankAwareOnnx } from '../rank-aware-onnx.js';
import { createOrtScorer } from './node.js';

/** DIR's model as the compiler runs it: an imported graph, or a model compiled from its export. */
export async function compiledModelOf(dir: string): Promise<ImportedModel> {
  return (await isCompiledDir(dir)) ? loadCompiledDir(dir) : compileModel(await loadModelDir(dir));
}

export async function scoreOnOrt(dir: string, request: unknown, threads: number): Promise<string> {
  const scorer = await createOrtScorer(await compiledModelOf(dir), { threads });
  try {
    const result = await scorer.score(request);
    return JSON.stringify({ scores: result.scores, backend: 'ort', plan: 'rank-aware', threads, reason: scorer.info.reason });
  } finally {
    await scorer.dispose();
  }
}

/** The files `export-onnx --plan rank-aware` writes into its --out directory. */
export const RANK_AWARE_FILES = { single: 'rank-aware.onnx', context: 'context.onnx', candidates: 'candidates.onnx', manifest: 'rank-aware.json' } as const;

export async function exportRankAwareDir(dir: string, out: string): Promise<string> {
  const graphs = exportRankAwareOnnx(await compiledModelOf(dir));
  await mkdir(out, { recursive: true });
  await writeFile(join(out, RANK_AWARE_FILES.single), graphs.single);
  await writeFile(join(out, RANK_AWARE_FILES.context), graphs.context);
  await writeFile(join(out, RANK_AWARE_FILES.candidates), graphs.candidates);
  await writeFile(join(out, RANK_AWARE_FILES.manifest), JSON.stringify(graphs.manifest, null, 2) + '\n');
  const fused = graphs.fusions.length > 0 ? `; fused in the candidate stage: ${graphs.fusions.join(', ')}` : '';
  return `wrote ${out}: ${RANK_AWARE_FILES.single} (both stages, ${graphs.single.byteLength} bytes), ${RANK_AWARE_FILES.context} and ${RANK_AWARE_FILES.candidates} (the stages apart, ${graphs.manifest.handoff.length} values handed over), ${RANK_AWARE_FILES.manifest}${fused}`;
}
