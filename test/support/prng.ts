/** mulberry32: small, fast, good enough to pick fault points reproducibly from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Seeded choices for the fault-injection tests: the same seed makes the same choices. */
export class Rng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = prng(seed);
  }

  /** In [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined && items.length === 0) throw new Error('pick from an empty list');
    return item as T;
  }

  /** One of `choices`, each as likely as its weight. */
  weighted<T>(choices: ReadonlyArray<readonly [T, number]>): T {
    const total = choices.reduce((sum, [, w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [choice, weight] of choices) {
      r -= weight;
      if (r < 0) return choice;
    }
    return choices[choices.length - 1]![0];
  }

  /** Printable ASCII, with a few characters JSON must escape. */
  string(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) {
      const c = this.int(0, 99);
      out +=
        c < 3 ? this.pick(['"', '\\', '\n', '\u00e9', '\u{1f50c}']) : String.fromCharCode(this.int(32, 126));
    }
    return out;
  }
}

/**
 * Fixed seeds replay known plans on every run (a regression there is caught every time); one new
 * random seed per run widens the coverage over time and is printed so its failure can be replayed.
 * `override` (an environment variable's value) runs that one seed alone.
 */
export function seedsFor(fixed: readonly number[], override: string | undefined): number[] {
  if (override) return [Number(override)];
  return [...fixed, Math.floor(Math.random() * 2 ** 31)];
}
