/**
 * The one deadline of a flush-at-exit or `shutdown()` (`TENANTSCOPE_SHUTDOWN_TIMEOUT_MS`), shared by every part that
 * exports, so the whole of it — spans and metrics, however many batches — ends in time.
 */
export class Deadline {
  private _at = Infinity;

  /** Starts a deadline `ms` from now (an earlier one in force is kept). */
  start(ms: number): void {
    this._at = Math.min(this._at, Date.now() + ms);
  }

  /** Ends the deadline (the flush it bounded is over). */
  clear(): void {
    this._at = Infinity;
  }

  /** Milliseconds left (Infinity when no deadline is in force; may be negative). */
  remaining(): number {
    return this._at - Date.now();
  }
}
