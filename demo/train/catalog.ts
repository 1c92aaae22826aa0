/**
 * The demo's item catalog: real movies from the `vega-datasets` package (data/movies.json), cleaned.
 * Kept: rows with a title, one of our genres, a release date and an IMDB rating; titles deduplicated; the
 * CATALOG_SIZE most-voted on IMDB (the films a visitor recognizes), ids in that order.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GENRES } from '../src/vocab.js';
import type { CatalogItem } from '../src/vocab.js';

export const CATALOG_SIZE = 1000;

interface MovieRow {
  readonly Title?: unknown;
  readonly 'Major Genre'?: unknown;
  readonly 'Release Date'?: unknown;
  readonly 'IMDB Rating'?: unknown;
  readonly 'IMDB Votes'?: unknown;
}

/**
 * The table writes two-digit years as 20xx ("Nov 21 2046" is 1946's The Best Years of Our Lives); it ends
 * in 2010, so a later year is a century too late.
 */
export function releaseYear(date: string): number | undefined {
  const year = Number(/(\d{4})\s*$/.exec(date)?.[1]);
  if (!Number.isInteger(year)) return undefined;
  return year > 2011 ? year - 100 : year;
}

export function loadMoviesTable(): MovieRow[] {
  const require = createRequire(import.meta.url);
  // The package exports only its build (build/index.js); the table sits beside it in data/.
  const path = join(dirname(require.resolve('vega-datasets')), '..', 'data', 'movies.json');
  return JSON.parse(readFileSync(path, 'utf8')) as MovieRow[];
}

export function buildCatalog(rows: readonly MovieRow[] = loadMoviesTable(), size = CATALOG_SIZE): CatalogItem[] {
  const genreIds = new Map<string, number>(GENRES.map((g, i) => [g, i]));
  const seen = new Set<string>();
  const kept: { title: string; genre: number; year: number; rating: number; votes: number }[] = [];
  for (const row of rows) {
    const title = typeof row.Title === 'string' || typeof row.Title === 'number' ? String(row.Title).trim() : '';
    const genre = typeof row['Major Genre'] === 'string' ? genreIds.get(row['Major Genre']) : undefined;
    const year = typeof row['Release Date'] === 'string' ? releaseYear(row['Release Date']) : undefined;
    const rating = row['IMDB Rating'];
    const votes = typeof row['IMDB Votes'] === 'number' ? row['IMDB Votes'] : 0;
    if (!title || genre === undefined || year === undefined || typeof rating !== 'number' || seen.has(title)) continue;
    seen.add(title);
    kept.push({ title, genre, year, rating, votes });
  }
  // Most votes first; ties by title so that the order never depends on the table's row order.
  kept.sort((a, b) => b.votes - a.votes || (a.title < b.title ? -1 : 1));
  return kept.slice(0, size).map(({ title, genre, year, rating }, id) => ({ id, title, genre, year, rating }));
}
