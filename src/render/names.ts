// Names and labels of the objects one LiveStream owns. Everything that finds a child by name uses these.
export const names = (stream: string) => ({
  deployment: stream,
  service: stream,
  metricsService: `${stream}-metrics`,
  configMap: `${stream}-mediamtx`,
  publishSecret: `${stream}-publish`,
  internalSecret: `${stream}-internal`,
  recordings: `${stream}-recordings`,
});

export const MANAGED_BY = 'vstream';
export const STREAM_LABEL = 'vstream.io/livestream';

/** Labels on every child; the controller's informers select on managed-by, lookups on the stream label. */
export const commonLabels = (stream: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'mediamtx',
  'app.kubernetes.io/instance': stream,
  'app.kubernetes.io/component': 'livestream',
  'app.kubernetes.io/part-of': 'vstream',
  'app.kubernetes.io/managed-by': MANAGED_BY,
  [STREAM_LABEL]: stream,
});

/** The pod selector: a strict subset of commonLabels that never changes for the life of a stream. */
export const selectorLabels = (stream: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'mediamtx',
  'app.kubernetes.io/instance': stream,
  [STREAM_LABEL]: stream,
});
