/** "Did you mean": the nearest of some known names to a name that is none of them. */

/**
 * Levenshtein distance between a and b. O(a.length * b.length) time, O(b.length) memory: callers
 * cut text from outside to a bound before asking (closest does).
 */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

/** Characters of a name compared at most: a longer name from outside is cut to this first, so the work stays bounded. */
export const MAX_COMPARED_CHARS = 64;

/**
 * The known name nearest to name, when it is near enough to be a slip: within maxDistance(known)
 * edits (ties: the first in known). undefined when none is.
 */
export function closest(name: string, known: readonly string[], maxDistance: (known: string) => number): string | undefined {
  const compared = name.slice(0, MAX_COMPARED_CHARS);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    // A length difference is a lower bound of the distance: skip the table when it is already too far.
    if (Math.abs(candidate.length - compared.length) > maxDistance(candidate)) continue;
    const distance = editDistance(compared, candidate);
    if (distance <= maxDistance(candidate) && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}
