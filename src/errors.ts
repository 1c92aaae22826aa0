/**
 * Every refusal of bad input is a RankawareError: one line that names the field (or weight, or
 * option), what was expected and what was received. The CLI prints `error.message` and exits 1.
 */
export class RankawareError extends Error {
  override readonly name = 'RankawareError';
  /** Where the problem is: a field, a weight name, an option path, a file. */
  readonly where: string;
  /** What was expected there. */
  readonly expected: string;
  /** What was found instead (already rendered for humans). */
  readonly received: string;

  constructor(
    where: string,
    expected: string,
    received: string,
    /** A category for metrics and tests. */
    readonly kind: ErrorKind = 'invalid',
  ) {
    // One line whatever the parts hold (a JSON parse error quotes the text around it, newlines included).
    const [w, e, r] = [where, expected, received].map(oneLine) as [string, string, string];
    super(`${w}: expected ${e}, received ${r}`);
    this.where = w;
    this.expected = e;
    this.received = r;
  }
}

/** Text on one line: each run of line breaks (and the spaces around it) becomes one space. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

export type ErrorKind =
  | 'invalid' // a value of the wrong type or range
  | 'missing' // a required value is absent
  | 'unknown' // a name that the model does not declare
  | 'weights' // a weight missing, of the wrong shape or dtype
  | 'format' // a file that cannot be parsed (model.json version, truncated safetensors)
  | 'overloaded' // a full queue: the same call may succeed later (a server answers 503 with Retry-After)
  | 'unavailable'; // a scorer disposed or with no live worker: retry on another replica

/** Render a received value compactly for an error message (nested arrays to 3 levels: never deeper, however deep the value). */
export function show(value: unknown, depth = 0): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  if (Array.isArray(value))
    return value.length > 6 || depth >= 3 ? `an array of ${value.length}` : `[${value.map((v) => show(v, depth + 1)).join(', ')}]`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
