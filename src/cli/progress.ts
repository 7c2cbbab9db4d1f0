/**
 * A progress bar on stderr for long runs: `label [#####.....] 45% 921/2048 131 tok/s ETA 9s`.
 * Redrawn in place at most every 100 ms on a terminal; when stderr is not a terminal (CI, pipes)
 * it prints nothing until `done`, which writes one summary line, so logs stay short.
 */
export class ProgressBar {
  private readonly start = performance.now();
  private lastDraw = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly label: string, private readonly unit = 'tok', private readonly enabled = true) {}

  update(done: number, total: number): void {
    if (!this.enabled || !this.tty) return;
    const t = performance.now();
    if (t - this.lastDraw < 100 && done < total) return;
    this.lastDraw = t;
    const width = 24, frac = total > 0 ? done / total : 1;
    const filled = Math.round(frac * width);
    const rate = done / Math.max((t - this.start) / 1000, 1e-9);
    const eta = rate > 0 ? (total - done) / rate : 0;
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(frac * 100)}% ${done}/${total} ${rate.toFixed(0)} ${this.unit}/s ETA ${eta.toFixed(0)}s \x1b[K`);
  }

  /** Ends the bar with a summary line. */
  done(summary = ''): void {
    if (!this.enabled) return;
    const seconds = (performance.now() - this.start) / 1000;
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${this.label}: done in ${seconds.toFixed(1)} s${summary ? ` ${summary}` : ''}\n`);
  }
}
