import { VALUE_INVALID, VALUE_OTHER } from '../semconv';
import type { CounterSeries } from './MetricFamily';

/** Longest value an application-given label keeps; longer ones are `invalid`. */
export const MAX_LABEL_VALUE_LENGTH = 128;
/** C0/C1 control characters (tabs and newlines included): such a value is not a label, whatever else it holds. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Bounds one label whose values come from the application or a message (a conversation's channel, a message
 * type, a queue name): a value that is not a non-empty printable string of at most 128 characters becomes
 * `invalid`; past `max` distinct values the rest fold into `_OTHER`, each fold counted in
 * `tenantscope_labels_folded_total{label}`. Never throws. Admitted values are memoised; others are not kept, so
 * hostile input cannot grow it.
 */
export class LabelValues {
  private readonly _admitted = new Set<string>();

  constructor(
    private readonly _max: number,
    /** The `tenantscope_labels_folded_total` series of this label. */
    private readonly _folded: CounterSeries
  ) {}

  /** The label value for `raw`. */
  value(raw: unknown): string {
    if (typeof raw !== 'string') return VALUE_INVALID;
    if (this._admitted.has(raw)) return raw;
    if (raw === '' || raw.length > MAX_LABEL_VALUE_LENGTH || CONTROL.test(raw)) return VALUE_INVALID;
    if (this._admitted.size >= this._max) {
      this._folded.value++;
      return VALUE_OTHER;
    }
    this._admitted.add(raw);
    return raw;
  }
}
