import { describe, expect, it, vi } from 'vitest';
import { createProgress, progressModeFor } from '../src/bench/progress.js';

describe('bench progress', () => {
  it('is a bar on a terminal and lines elsewhere (a pipe, CI, --json)', () => {
    expect(progressModeFor({ isTTY: true }, false)).toBe('bar');
    expect(progressModeFor({ isTTY: true }, true)).toBe('lines');
    expect(progressModeFor({}, false)).toBe('lines');
  });

  it('prints a line per step, at most one a second, and a last line when done', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const lines: string[] = [];
      const p = createProgress(4, 'lines', (l) => lines.push(l));
      p.tick('table3 dlrm N=256');
      p.tick('table3 dlrm N=1024'); // within the second: not printed
      vi.advanceTimersByTime(2500);
      p.tick('peers ort-node');
      p.tick('cold');
      p.stop();
      expect(lines).toEqual(['bench 0/4 (0 s): table3 dlrm N=256', 'bench 2/4 (3 s): peers ort-node', 'bench 4/4 (3 s): done']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('says nothing when off', () => {
    const lines: string[] = [];
    const p = createProgress(2, 'off', (l) => lines.push(l));
    p.tick('a');
    p.stop();
    expect(lines).toEqual([]);
  });
});
