/**
 * The synthetic world the demo model learns from: seeded users and sessions over the real catalog, and
 * clicks drawn from a known preference structure over item attributes (documented in docs/demo.md).
 *
 *   logit(user, session, item) = BIAS
 *     + AGE_GENRE[age band][genre]                 genre affinity by age band
 *     + FAVORITE * [genre = favourite genre]
 *     + HISTORY * (share of recent history in this genre)
 *     + TIME_GENRE[time of day][genre]             late night favours horror and thrillers, ...
 *     + DEVICE_GENRE[device][genre]                the TV favours action and adventure, ...
 *     + AGE_ERA[age band][decade]                  the young favour recent films, the old older ones
 *     + QUALITY * (IMDB rating - 6.5)
 *     + buzz[item]                                 a per-item effect only the item id can learn
 *
 * A click is Bernoulli(sigmoid(logit)). Everything is drawn from mulberry32 streams with fixed seeds.
 */
import { mulberry32, normal } from '../../src/model/random.js';
import type { Random } from '../../src/model/random.js';
import { AGE_BANDS, DECADES, DEVICES, GENRES, TIMES_OF_DAY, decadeOf } from '../src/vocab.js';
import type { CatalogItem, UserContext } from '../src/vocab.js';

export const BIAS = -2.0;
export const FAVORITE = 1.0;
export const HISTORY = 1.5;
export const QUALITY = 0.5;
export const BUZZ_STD = 0.3;

/** Rows: age bands; columns: GENRES (Drama, Comedy, Action, Adventure, Thriller, Horror, RomCom, Musical, Documentary, Black Comedy, Western). */
export const AGE_GENRE: readonly (readonly number[])[] = [
  [-0.4, 0.6, 0.8, 0.5, 0.3, 0.7, 0.2, -0.6, -0.8, 0.4, -1.0], // 18-24
  [0.0, 0.5, 0.6, 0.4, 0.5, 0.2, 0.4, -0.4, -0.3, 0.5, -0.6], // 25-34
  [0.4, 0.3, 0.3, 0.3, 0.5, -0.3, 0.3, -0.1, 0.1, 0.2, -0.2], // 35-49
  [0.7, 0.0, -0.1, 0.1, 0.3, -0.7, 0.2, 0.4, 0.5, -0.1, 0.4], // 50-64
  [0.8, -0.2, -0.6, -0.2, 0.0, -1.0, 0.1, 0.8, 0.7, -0.4, 0.9], // 65+
];
/** Rows: times of day (morning, afternoon, evening, late night); columns: GENRES. */
export const TIME_GENRE: readonly (readonly number[])[] = [
  [-0.2, 0.3, -0.3, 0.4, -0.5, -0.8, 0.2, 0.5, 0.6, -0.2, 0.0],
  [0.0, 0.3, 0.2, 0.4, -0.2, -0.4, 0.2, 0.3, 0.3, 0.0, 0.2],
  [0.3, 0.0, 0.2, 0.0, 0.3, 0.1, 0.3, 0.0, -0.1, 0.1, 0.0],
  [-0.1, -0.2, 0.2, -0.3, 0.8, 1.0, -0.3, -0.6, -0.5, 0.4, -0.3],
];
/** Rows: devices (phone, laptop, tv); columns: GENRES. */
export const DEVICE_GENRE: readonly (readonly number[])[] = [
  [-0.3, 0.5, -0.2, -0.3, 0.0, 0.1, 0.4, -0.2, -0.2, 0.3, -0.4],
  [0.2, 0.0, -0.1, -0.1, 0.1, 0.0, 0.0, 0.0, 0.5, 0.2, 0.0],
  [0.1, -0.2, 0.6, 0.6, 0.2, 0.1, -0.1, 0.3, 0.0, -0.2, 0.3],
];
/** Rows: age bands; columns: DECADES (before 1970, 1970s, 1980s, 1990s, 2000s, 2010s). */
export const AGE_ERA: readonly (readonly number[])[] = [
  [-0.9, -0.6, -0.3, 0.0, 0.5, 0.7],
  [-0.6, -0.3, 0.0, 0.2, 0.3, 0.4],
  [-0.2, 0.0, 0.3, 0.3, 0.1, 0.1],
  [0.3, 0.4, 0.3, 0.0, -0.1, -0.2],
  [0.7, 0.5, 0.1, -0.2, -0.3, -0.4],
];
/** How often each time of day and device occur (sessions); devices by age band. */
const TIME_WEIGHTS = [0.2, 0.25, 0.4, 0.15];
const DEVICE_WEIGHTS_BY_AGE = [
  [0.6, 0.25, 0.15],
  [0.45, 0.3, 0.25],
  [0.3, 0.35, 0.35],
  [0.2, 0.3, 0.5],
  [0.1, 0.3, 0.6],
];

export const HISTORY_MAX = 8;

export interface World {
  readonly catalog: readonly CatalogItem[];
  /** buzz[item id]: the per-item effect. */
  readonly buzz: Float64Array;
}

export function createWorld(catalog: readonly CatalogItem[], seed: number): World {
  const rand = mulberry32(seed);
  return { catalog, buzz: Float64Array.from(catalog, () => normal(rand) * BUZZ_STD) };
}

/** The true logit of a click: the preference structure above. */
export function trueLogit(world: World, user: UserContext, item: CatalogItem): number {
  const g = item.genre;
  const sameGenre = user.history.filter((id) => world.catalog[id]!.genre === g).length;
  return (
    BIAS +
    AGE_GENRE[user.ageBand]![g]! +
    (g === user.favoriteGenre ? FAVORITE : 0) +
    (user.history.length > 0 ? (HISTORY * sameGenre) / user.history.length : 0) +
    TIME_GENRE[user.timeOfDay]![g]! +
    DEVICE_GENRE[user.device]![g]! +
    AGE_ERA[user.ageBand]![decadeOf(item.year)]! +
    QUALITY * (item.rating - 6.5) +
    world.buzz[item.id]!
  );
}

function pick(rand: Random, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rand() * total;
  for (let i = 0; i < weights.length; i++) if ((r -= weights[i]!) < 0) return i;
  return weights.length - 1;
}

export interface Session {
  readonly user: UserContext;
  readonly items: readonly CatalogItem[];
  readonly clicks: readonly number[];
}

/**
 * A user: an age band, a favourite genre drawn from the age band's affinities, and a recent history of
 * 0..HISTORY_MAX films drawn by the user's taste (no time or device: history is what they watched before).
 */
export function drawUser(world: World, rand: Random): Omit<UserContext, 'timeOfDay' | 'device'> {
  const ageBand = Math.floor(rand() * AGE_BANDS.length);
  const favoriteGenre = pick(rand, AGE_GENRE[ageBand]!.map((a) => Math.exp(1.5 * a)));
  const taste = world.catalog.map((item) =>
    Math.exp(AGE_GENRE[ageBand]![item.genre]! + (item.genre === favoriteGenre ? FAVORITE : 0) + AGE_ERA[ageBand]![decadeOf(item.year)]! + QUALITY * (item.rating - 6.5)),
  );
  const length = Math.floor(rand() * (HISTORY_MAX + 1));
  const history: number[] = [];
  while (history.length < length) {
    const id = pick(rand, taste);
    if (!history.includes(id)) history.push(id);
  }
  return { ageBand, favoriteGenre, history };
}

/** Sessions of `users` users: each gets `sessionsPerUser` sessions of `impressions` random films. */
export function drawSessions(world: World, users: number, sessionsPerUser: number, impressions: number, seed: number): Session[] {
  const rand = mulberry32(seed);
  const sessions: Session[] = [];
  for (let u = 0; u < users; u++) {
    const profile = drawUser(world, rand);
    for (let s = 0; s < sessionsPerUser; s++) {
      const user: UserContext = { ...profile, timeOfDay: pick(rand, TIME_WEIGHTS), device: pick(rand, DEVICE_WEIGHTS_BY_AGE[profile.ageBand]!) };
      const items = Array.from({ length: impressions }, () => world.catalog[Math.floor(rand() * world.catalog.length)]!);
      const clicks = items.map((item) => (rand() < 1 / (1 + Math.exp(-trueLogit(world, user, item))) ? 1 : 0));
      sessions.push({ user, items, clicks });
    }
  }
  return sessions;
}

/** Sanity of the tables' shapes against the vocabularies (a typo in a row would skew the world silently). */
export function checkTables(): void {
  const shapes: [string, readonly (readonly number[])[], number, number][] = [
    ['AGE_GENRE', AGE_GENRE, AGE_BANDS.length, GENRES.length],
    ['TIME_GENRE', TIME_GENRE, TIMES_OF_DAY.length, GENRES.length],
    ['DEVICE_GENRE', DEVICE_GENRE, DEVICES.length, GENRES.length],
    ['AGE_ERA', AGE_ERA, AGE_BANDS.length, DECADES.length],
  ];
  for (const [name, table, rows, cols] of shapes)
    if (table.length !== rows || table.some((r) => r.length !== cols)) throw new Error(`${name} must be ${rows} x ${cols}`);
}
