/** `rankaware export-triton`: a model directory's Triton model repository and KServe manifest, written to disk. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { compiledModelOf } from '../ort/cli.js';
import { KSERVE_MANIFEST, tritonRepository } from './repository.js';
import type { TritonOptions } from './repository.js';

export async function exportTritonDir(dir: string, out: string, options: TritonOptions): Promise<string> {
  const repo = tritonRepository(await compiledModelOf(dir), options);
  for (const [path, content] of repo.files) {
    await mkdir(dirname(join(out, path)), { recursive: true });
    await writeFile(join(out, path), content);
  }
  const list = (ts: readonly { name: string; dims: readonly number[] }[]) => ts.map((t) => `${t.name} [${t.dims.join(', ')}]`).join(', ');
  return [
    `wrote the Triton model repository ${out}: ensemble ${repo.name} = ${repo.context.model} (context.onnx, response cache on) then ${repo.candidates.model} (candidates.onnx), and ${KSERVE_MANIFEST} (KServe)`,
    `  inputs: ${list(repo.context.inputs)}, ${list(repo.candidates.inputs.slice(0, repo.candidates.inputs.length - repo.context.outputs.length))}`,
    `  output: ${list(repo.candidates.outputs)}`,
    `  serve: tritonserver --model-repository=${out} --cache-config=local,size=${Math.round((options.cacheMb ?? 64) * 1024 * 1024)}`,
  ].join('\n');
}
