/**
 * Where the client keeps its inbox cursor (the highest `seq` the application has processed), so
 * that a reload or a restart resumes with `?cursor=` instead of missing or repeating frames.
 *
 * The interface allows promises so that async storages (IndexedDB, React Native's AsyncStorage)
 * can implement it; the two stores here are synchronous.
 */
export interface CursorStore {
  /** The stored cursor, or undefined when there is none (a first start: the server picks). */
  get(): number | undefined | Promise<number | undefined>;
  set(seq: number): void | Promise<void>;
}

/** The part of the Web Storage API (localStorage, sessionStorage) a StorageCursorStore needs. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A valid cursor: inbox seqs are whole numbers from 0 up. */
export function isCursor(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checked(seq: number): number {
  if (!isCursor(seq)) throw new RangeError(`a cursor is a whole number >= 0, got ${seq}`);
  return seq;
}

/** Keeps the cursor for the life of the page or process: resumes across reconnects, not restarts. */
export class MemoryCursorStore implements CursorStore {
  #seq: number | undefined;

  constructor(initial?: number) {
    this.#seq = initial === undefined ? undefined : checked(initial);
  }

  get(): number | undefined {
    return this.#seq;
  }

  set(seq: number): void {
    this.#seq = checked(seq);
  }

  clear(): void {
    this.#seq = undefined;
  }
}

/**
 * Keeps the cursor in a Web Storage (localStorage) under `key`. The key must name the user (for
 * example `parley.cursor.<userId>`): a cursor is a position in ONE user's inbox, and another
 * user's cursor on the same browser would skip or repeat frames.
 */
export class StorageCursorStore implements CursorStore {
  readonly key: string;
  readonly #storage: StorageLike;

  constructor(storage: StorageLike, key: string) {
    if (key === '') throw new RangeError('a cursor store needs a key');
    this.#storage = storage;
    this.key = key;
  }

  /** Undefined for a missing or unreadable value: starting over beats failing on a bad entry. */
  get(): number | undefined {
    const raw = this.#storage.getItem(this.key);
    if (raw === null || !/^\d+$/.test(raw)) return undefined;
    const seq = Number(raw);
    return isCursor(seq) ? seq : undefined;
  }

  set(seq: number): void {
    this.#storage.setItem(this.key, String(checked(seq)));
  }

  /** Forget the cursor (at sign-out). */
  clear(): void {
    this.#storage.removeItem(this.key);
  }
}
