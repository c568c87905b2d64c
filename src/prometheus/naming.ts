/**
 * Prometheus names for OTLP metrics, following the OpenTelemetry Collector's translation
 * (contrib `pkg/translator/prometheus`): invalid characters become `_`, the unit is appended as a word unless the
 * name already ends with it, `{annotations}` are dropped, and monotonic sums end in `_total`. Using the same rule
 * in-process means a dashboard query works against either export path.
 */
const UNIT_WORDS: Record<string, string> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};
const PER_WORDS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** The unit suffix the Collector appends for `unit` ('' for none). */
export function unitSuffix(unit: string, isGauge: boolean): string {
  const u = unit.replace(/\{[^}]*\}/g, '').trim();
  if (u === '') return '';
  if (u === '1') return isGauge ? 'ratio' : '';
  const slash = u.indexOf('/');
  if (slash === -1) return UNIT_WORDS[u] ?? sanitize(u);
  const main = u.slice(0, slash);
  const per = u.slice(slash + 1);
  const a = main === '' ? '' : (UNIT_WORDS[main] ?? sanitize(main));
  const b = PER_WORDS[per] ?? sanitize(per);
  return a === '' ? `per_${b}` : `${a}_per_${b}`;
}

/** Full Prometheus metric name for an OTLP metric. */
export function prometheusName(name: string, unit: string, kind: 'counter' | 'gauge' | 'histogram'): string {
  let n = sanitize(name);
  const suffix = unitSuffix(unit, kind === 'gauge');
  if (suffix !== '' && !n.endsWith('_' + suffix)) n += '_' + suffix;
  if (kind === 'counter' && !n.endsWith('_total')) n += '_total';
  return n;
}

function sanitize(s: string): string {
  let n = s.replace(/[^A-Za-z0-9_:]/g, '_').replace(/__+/g, '_');
  if (/^[0-9]/.test(n)) n = '_' + n;
  return n;
}
