/** Numbers, sizes and durations in words for the page. */

/** "795 kB", "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${Math.round(bytes / 1000)} kB`;
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

/** "381 k", "20.2 M". */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${Math.round(n / 1000)} k`;
  return `${(n / 1e6).toFixed(1)} M`;
}

/** "0.4 s", "12 s", "3 min 05 s". */
export function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return `${m} min ${String(s).padStart(2, "0")} s`;
}

/** "640 × 480". */
export function formatSize(width: number, height: number): string {
  return `${width} × ${height}`;
}
