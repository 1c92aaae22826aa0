/**
 * Parsing helpers for model.json: each checks one value and names its path in the error. Shared by
 * spec.ts and the architectures' option parsers (src/zoo/*).
 */
import { RankawareError, show } from '../errors.js';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
export function obj(v: unknown, where: string): Json {
  if (!isObject(v)) throw new RankawareError(where, 'an object', show(v));
  return v;
}
export function positiveInt(v: unknown, where: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RankawareError(where, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`, show(v));
  return v;
}

/**
 * Bounds on what model.json may declare, far above any ranking model: the loader builds a list of the
 * declared weights (and DLRM its field pairs) before it reads one, so a corrupt count must not make it
 * build a billion of them.
 */
export const SPEC_LIMITS = { fields: 1024, layers: 256, heads: 1024 } as const;
export function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string, fallback?: T): T {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new RankawareError(where, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, show(v));
  return v as T;
}
export function bool(v: unknown, where: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new RankawareError(where, 'true or false', show(v));
  return v;
}
export function sizes(v: unknown, where: string, fallback?: readonly number[]): number[] {
  if (v === undefined && fallback !== undefined) return [...fallback];
  if (!Array.isArray(v)) throw new RankawareError(where, 'an array of layer sizes', show(v));
  if (v.length > SPEC_LIMITS.layers) throw new RankawareError(where, `at most ${SPEC_LIMITS.layers} layer sizes`, `${v.length}`);
  return v.map((x, i) => positiveInt(x, `${where}[${i}]`));
}
export function noExtraKeys(o: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key))
      throw new RankawareError(`${where}.${key}`, `one of the keys ${allowed.join(', ')}`, `unknown key ${JSON.stringify(key)}`, 'unknown');
  }
}
