#!/usr/bin/env node
// The CLI entry: runs the compiled dist/. When dist/ or the embedded WASM kernels are missing (a fresh
// checkout that skipped `npm ci`'s prepare step), it builds them first.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { swiftshaderEnv } from './webgpu-env.js';

// WebGPU without a GPU: Dawn finds SwiftShader's Vulkan only through variables set before node starts,
// so a command that may use WebGPU re-executes itself once with them (bin/webgpu-env.js says when).
const args = process.argv.slice(2);
const backendAt = args.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
const backend = backendAt < 0 ? undefined : args[backendAt].startsWith('--backend=') ? args[backendAt].slice('--backend='.length) : args[backendAt + 1];
// score and bench default to --backend auto, which asks for a WebGPU adapter first.
const wantsGpu = backend === undefined ? ['score', 'bench'].includes(args[0] ?? '') && !args.some((a) => a === '--help' || a === '-h') : /^(webgpu|auto)$/.test(backend);
const gpuEnv = wantsGpu ? swiftshaderEnv() : undefined;
if (gpuEnv) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: 'inherit', env: { ...process.env, ...gpuEnv } });
  process.exit(child.status ?? 1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist', 'cli', 'main.js')) || !existsSync(join(root, 'build', 'wasm', 'kernels.js'))) {
  console.error('rankaware: building (dist/ or build/wasm is missing)...');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], shell: process.platform === 'win32' });
  if (build.status !== 0) {
    console.error('error: the build failed; run `npm run build` in the package directory to see why');
    process.exit(1);
  }
}
const cli = await import('../dist/cli/main.js');
process.exitCode = await cli.main(process.argv.slice(2));
