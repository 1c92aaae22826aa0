/** `engines` and the installed dependencies agree: no package here needs a newer Node than we promise. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };

function* packages(dir: string): Generator<{ name: string; version: string; engines?: { node?: string } }> {
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (name.startsWith('@')) {
      yield* packages(path);
      continue;
    }
    const manifest = join(path, 'package.json');
    if (existsSync(manifest)) yield JSON.parse(readFileSync(manifest, 'utf8'));
    if (existsSync(join(path, 'node_modules'))) yield* packages(join(path, 'node_modules'));
  }
}

describe('engines', () => {
  it('every installed package runs on the oldest Node that package.json promises', () => {
    const oldest = semver.minVersion(ours.engines.node)!.version;
    const tooNew = [...packages(join(root, 'node_modules'))]
      .filter((p) => p.engines?.node && semver.validRange(p.engines.node) && !semver.satisfies(oldest, p.engines.node))
      .map((p) => `${p.name}@${p.version} needs node ${p.engines!.node}`);
    expect(tooNew).toEqual([]);
  });
});
