/**
 * Outcomes of the attack suite, counted by part and outcome, with the first few examples of each: what
 * the summary prints and what decides the exit code. An outcome is good (a clean refusal, a finite
 * score, an expected answer) or one of the bad kinds the suite must never see.
 */

/** Outcomes that fail the run: each must count 0. */
export const BAD_OUTCOMES = ['crash', 'hang', 'NaN', '5xx', 'reset', 'lost', 'wrong score', 'unexpected', 'bad message', 'server died', 'memory'] as const;
export type BadOutcome = (typeof BAD_OUTCOMES)[number];

export interface Counted {
  readonly part: string;
  /** 'clean error: format', 'scored finite', '400', 'crash', ... */
  readonly outcome: string;
  readonly count: number;
  readonly examples: readonly string[];
}

/** Whether an outcome is one of the bad kinds (by its first word: 'crash: RangeError' is a crash). */
export function isBad(outcome: string): boolean {
  return BAD_OUTCOMES.some((b) => outcome === b || outcome.startsWith(`${b}:`));
}

export class Tally {
  private readonly counts = new Map<string, { part: string; outcome: string; count: number; examples: string[] }>();
  readonly notes: string[] = [];

  add(part: string, outcome: string, example = ''): void {
    const key = `${part}\u0000${outcome}`;
    let entry = this.counts.get(key);
    if (!entry) this.counts.set(key, (entry = { part, outcome, count: 0, examples: [] }));
    entry.count++;
    if (example && entry.examples.length < (isBad(outcome) ? 5 : 1)) entry.examples.push(example.slice(0, 300));
  }

  note(text: string): void {
    this.notes.push(text);
  }

  entries(): Counted[] {
    return [...this.counts.values()].sort((a, b) => a.part.localeCompare(b.part) || b.count - a.count || a.outcome.localeCompare(b.outcome));
  }

  /** Counts of each bad outcome over all parts (every one listed, zeros included). */
  badCounts(): Record<BadOutcome, number> {
    const out = Object.fromEntries(BAD_OUTCOMES.map((b) => [b, 0])) as Record<BadOutcome, number>;
    for (const e of this.counts.values()) for (const b of BAD_OUTCOMES) if (e.outcome === b || e.outcome.startsWith(`${b}:`)) out[b] += e.count;
    return out;
  }

  get failed(): boolean {
    return Object.values(this.badCounts()).some((n) => n > 0);
  }

  /** The summary as people read it: per part, its outcomes and counts; then the bad kinds; then notes. */
  format(): string {
    const lines: string[] = [];
    let part = '';
    for (const e of this.entries()) {
      if (e.part !== part) {
        part = e.part;
        const total = this.entries().filter((x) => x.part === part).reduce((a, x) => a + x.count, 0);
        lines.push(`${part} (${total})`);
      }
      lines.push(`  ${String(e.count).padStart(6)}  ${e.outcome}${e.examples.length && isBad(e.outcome) ? `\n${e.examples.map((x) => `            e.g. ${x}`).join('\n')}` : ''}`);
    }
    const bad = this.badCounts();
    lines.push(`must be 0: ${Object.entries(bad).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const n of this.notes) lines.push(n);
    lines.push(this.failed ? 'FAILED' : 'OK');
    return lines.join('\n');
  }

  toJSON(): { counts: Counted[]; bad: Record<BadOutcome, number>; notes: string[]; failed: boolean } {
    return { counts: this.entries(), bad: this.badCounts(), notes: this.notes, failed: this.failed };
  }
}
