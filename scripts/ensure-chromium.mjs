// Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (test/browser.test.ts).
// Playwright drives that binary (playwright-core downloads no browser of its own); on a fresh machine this
// installs Debian's `chromium` package with apt-get, as root (CI runs as root). It never removes anything.
// Exits non-zero, saying why, when Chromium is missing and cannot be installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';

function run(command, args) {
  console.log(`ensure-chromium: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) return `${command} could not start (${result.error.message})`;
  if (result.status !== 0) return `${command} ${args[0]} exited with ${result.status ?? result.signal}`;
  return undefined;
}

function version() {
  const result = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function fail(message) {
  console.error(`ensure-chromium: ${message}`);
  console.error(
    `ensure-chromium: the browser tests need Debian's chromium at ${CHROMIUM}; install it by hand with ` +
      '`apt-get update && apt-get install -y --no-install-recommends chromium` (as root).',
  );
  process.exit(1);
}

if (existsSync(CHROMIUM)) {
  console.log(`ensure-chromium: ${CHROMIUM} is present (${version() ?? 'version unknown'}); nothing to install`);
} else {
  if (process.platform !== 'linux') fail(`${CHROMIUM} is missing, and apt-get is only tried on Linux`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    fail(`${CHROMIUM} is missing, and installing it with apt-get needs root (running as uid ${process.getuid()})`);
  console.log(`ensure-chromium: ${CHROMIUM} is missing; installing Debian's chromium package`);
  const error =
    run('apt-get', ['update']) ?? run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  if (error) fail(`installing chromium failed: ${error}`);
  if (!existsSync(CHROMIUM)) fail(`apt-get installed chromium, but ${CHROMIUM} is still missing`);
  console.log(`ensure-chromium: installed ${version() ?? CHROMIUM}`);
}
