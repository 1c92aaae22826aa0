#!/usr/bin/env node
// The CLI entry: runs the compiled dist/ (built by `npm run build`, which `npm ci` runs via prepare).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('error: rankaware is not built; run `npm run build` in the package directory');
    process.exit(1);
  }
  throw e;
}
process.exitCode = await cli.main(process.argv.slice(2));
