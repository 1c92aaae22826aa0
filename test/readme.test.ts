/**
 * The README's figures are generated, not typed: its benchmark block comes from the same run as the
 * committed bench/results/summary.md, and the prose around it states no measured speed or size.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { README_END, README_START } from '../src/bench/markdown.js';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const summary = await readFile(new URL('../bench/results/summary.md', import.meta.url), 'utf8');
const start = readme.indexOf(README_START.split(' (')[0]!);
const end = readme.indexOf(README_END);

describe('README figures', () => {
  it('has one generated benchmark block whose every table row is in the committed summary', () => {
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const rows = readme.slice(start, end).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('|---'));
    expect(rows.length).toBeGreaterThan(20);
    const summaryLines = new Set(summary.split('\n'));
    for (const row of rows) expect(summaryLines.has(row), row).toBe(true);
  });

  it('states no measured speed or size outside that block', () => {
    const prose = readme.slice(0, start) + readme.slice(end);
    const typed = [...prose.matchAll(/[^\n]{0,30}(\d+(\.\d+)?x (faster|slower)|\d+(\.\d+)? ?ms\b|\d+(\.\d+)? ?GFLOP\/s|about \d+ ?KB|\d+(,\d{3})+ candidates)[^\n]{0,20}/g)].map((m) => m[0]);
    expect(typed).toEqual([]);
  });
});
