// Suggestions for a mistyped command, flag or experiment name: the closest known one by edit distance.

/** Edit distance (insertions, deletions, substitutions, adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest of `options` to `word`, when it is close enough to be a slip of the keyboard. */
export function closest(word: string, options: string[]): string | undefined {
  let best: string | undefined, bd = Infinity;
  for (const o of options) { const d = editDistance(word, o); if (d < bd) { bd = d; best = o; } }
  return best !== undefined && bd <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}
