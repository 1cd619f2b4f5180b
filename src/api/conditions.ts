// Condition types and reasons of LiveStream status: the one list the controller, the docs and the tests use.

export const ConditionType = {
  /** Every referenced Secret exists, has its key and parses. */
  SecretsResolved: 'SecretsResolved',
  /** Every child object matches the spec (or says why not). */
  Reconciled: 'Reconciled',
  /** MediaMTX is running and accepts a publisher. */
  Ready: 'Ready',
  /** A publisher is online. */
  Live: 'Live',
  /** A configuration change that would drop connected sessions waits, or was applied and dropped them. */
  ConfigApplied: 'ConfigApplied',
  /** The generated publish token is the one the stream was created with (False after a regeneration). */
  PublishTokenStable: 'PublishTokenStable',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  // SecretsResolved
  Resolved: 'Resolved',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  SecretInvalid: 'SecretInvalid',
  // Reconciled
  Applied: 'Applied',
  InvalidSpec: 'InvalidSpec',
  ApplyFailed: 'ApplyFailed',
  /** An object with a child's name exists and is not controlled by this LiveStream: nothing is touched. */
  NameConflict: 'NameConflict',
  // Ready
  Available: 'Available',
  NotReconciled: 'NotReconciled',
  Starting: 'Starting',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  // Live
  PublisherOnline: 'PublisherOnline',
  NoPublisher: 'NoPublisher',
  ProbeFailed: 'ProbeFailed',
  NotRunning: 'NotRunning',
  // ConfigApplied
  InPlace: 'InPlace',
  WaitingForIdle: 'WaitingForIdle',
  // PublishTokenStable
  Unchanged: 'Unchanged',
  UserProvided: 'UserProvided',
  Regenerated: 'Regenerated',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Event reasons that are not condition reasons. */
export const EventReason = {
  /** A previously advertised ingest or playback URL changed. */
  EndpointChanged: 'EndpointChanged',
  /** The pod is being replaced for a change MediaMTX cannot apply in place. */
  Restarting: 'Restarting',
  /** A server-restarting configuration change was applied while sessions were connected. */
  SessionsDropped: 'SessionsDropped',
  /** A recordings claim left behind by an earlier LiveStream of the same name is used again. */
  RecordingsAdopted: 'RecordingsAdopted',
} as const;
