#!/usr/bin/env node
// The attack suite (src/fuzz/main.ts) on the built package: corrupt model directories and ONNX files,
// and hostile HTTP against `rankaware serve`. `npm run fuzz -- --quick` for the short run of npm test.
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../dist/fuzz/main.js', import.meta.url))) {
  console.error('fuzz: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { main } = await import('../dist/fuzz/main.js');
process.exitCode = await main(process.argv.slice(2));
