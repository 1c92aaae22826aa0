/**
 * The demo model's vocabularies: what each id of each categorical field means. Shared by the training
 * script (which builds the model with these vocab sizes) and the page (which shows the labels).
 */

/** Genres as vega-datasets' movies table names them ("Major Genre"), in id order. */
export const GENRES = [
  'Drama',
  'Comedy',
  'Action',
  'Adventure',
  'Thriller/Suspense',
  'Horror',
  'Romantic Comedy',
  'Musical',
  'Documentary',
  'Black Comedy',
  'Western',
] as const;

export const AGE_BANDS = ['18-24', '25-34', '35-49', '50-64', '65+'] as const;
export const TIMES_OF_DAY = ['morning', 'afternoon', 'evening', 'late night'] as const;
export const DEVICES = ['phone', 'laptop', 'tv'] as const;
/** Release decades; the first and the last bucket are open-ended. */
export const DECADES = ['before 1970', '1970s', '1980s', '1990s', '2000s', '2010s'] as const;
/** IMDB rating buckets. */
export const RATING_BUCKETS = ['below 5', '5-6', '6-7', '7-8', '8 and up'] as const;

export function decadeOf(year: number): number {
  if (year < 1970) return 0;
  return Math.min(DECADES.length - 1, Math.floor((year - 1960) / 10));
}

export function ratingBucketOf(rating: number): number {
  if (rating < 5) return 0;
  return Math.min(RATING_BUCKETS.length - 1, Math.floor(rating) - 4);
}

/** One movie of the catalog; `id` is its row in the item tables. */
export interface CatalogItem {
  readonly id: number;
  readonly title: string;
  readonly genre: number;
  readonly year: number;
  readonly rating: number;
}

/** The model's field names and sides, in declared order (context and target interleave as declared). */
export const CONTEXT_FIELDS = ['age_band', 'favorite_genre', 'history', 'time_of_day', 'device'] as const;
export const TARGET_FIELDS = ['item_id', 'genre', 'decade', 'rating_bucket'] as const;

/** What the visitor edits: one request's context. */
export interface UserContext {
  readonly ageBand: number;
  readonly favoriteGenre: number;
  /** Recently watched item ids, most recent first. */
  readonly history: readonly number[];
  readonly timeOfDay: number;
  readonly device: number;
}

/** The request JSON for a context and candidate items (the model's field names as keys). */
export function requestFor(user: UserContext, items: readonly CatalogItem[]) {
  return {
    context: {
      age_band: user.ageBand,
      favorite_genre: user.favoriteGenre,
      history: [...user.history],
      time_of_day: user.timeOfDay,
      device: user.device,
    },
    candidates: items.map((item) => ({
      item_id: item.id,
      genre: item.genre,
      decade: decadeOf(item.year),
      rating_bucket: ratingBucketOf(item.rating),
    })),
  };
}

/**
 * The request JSON of the sequence model (demo/public/din/): the same fields, with the history as the
 * model's sequence field, oldest first, and each film's genre beside it (the side feature history.genre).
 */
export function sequenceRequestFor(user: UserContext, items: readonly CatalogItem[], catalog: readonly CatalogItem[]) {
  const request = requestFor(user, items);
  const history = [...user.history].reverse();
  return { ...request, context: { ...request.context, history, 'history.genre': history.map((id) => catalog[id]!.genre) } };
}
