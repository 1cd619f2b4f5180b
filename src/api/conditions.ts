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
  /** The URLs in status are ones clients can reach (True says from where: the reason is the column kubectl shows). */
  EndpointsReady: 'EndpointsReady',
  /** Recording runs (True), or is paused because the recordings volume is full (False, VolumeFull). */
  RecordingHealthy: 'RecordingHealthy',
  /** Every spec.webhooks entry has its signing Secret (only present when spec.webhooks is set). */
  WebhooksReady: 'WebhooksReady',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  // SecretsResolved
  Resolved: 'Resolved',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  SecretInvalid: 'SecretInvalid',
  /** spec.tls.secretRef: missing keys, unparsable, expired, not yet valid, or a key that does not match. */
  CertificateInvalid: 'CertificateInvalid',
  // Reconciled
  Applied: 'Applied',
  InvalidSpec: 'InvalidSpec',
  ApplyFailed: 'ApplyFailed',
  /** An object with a child's name exists and is not controlled by this LiveStream: nothing is touched. */
  NameConflict: 'NameConflict',
  /** spec.recording.storage.size grew and the claim cannot: its StorageClass does not allow expansion. */
  VolumeExpansionUnsupported: 'VolumeExpansionUnsupported',
  // Ready
  Available: 'Available',
  NotReconciled: 'NotReconciled',
  Starting: 'Starting',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** spec.enabled is false: MediaMTX runs, the sidecar refuses publishers (Ready=False; phase Disabled). */
  Disabled: 'Disabled',
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
  // EndpointsReady: True, saying from where the URLs are reached
  ExternalHost: 'ExternalHost',
  LoadBalancer: 'LoadBalancer',
  NodePort: 'NodePort',
  ClusterInternal: 'ClusterInternal',
  // EndpointsReady: False, saying what is missing
  LoadBalancerPending: 'LoadBalancerPending',
  NodePortPending: 'NodePortPending',
  NodeAddressUnknown: 'NodeAddressUnknown',
  /** The TLS certificate does not cover the host the URLs use: TLS clients would refuse it. */
  CertificateHostMismatch: 'CertificateHostMismatch',
  // Live
  /** The publisher dropped moments ago; within the grace period the stream still counts as live. */
  PublisherReconnecting: 'PublisherReconnecting',
  // RecordingHealthy
  /** Segments are written; retention keeps the volume from filling. */
  Recording: 'Recording',
  /** The volume is nearly full and nothing may be deleted: recording is paused, the live stream goes on. */
  VolumeFull: 'VolumeFull',
  // WebhooksReady (False: SecretNotFound or SecretKeyMissing, naming spec.webhooks[i].secretRef)
  /** Every webhook's signing Secret and key exists. */
  SigningSecretsResolved: 'SigningSecretsResolved',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Event reasons that are not condition reasons. */
export const EventReason = {
  /** A previously advertised ingest or playback URL changed (or lost its host). */
  EndpointChanged: 'EndpointChanged',
  /** URLs that were pending (no load balancer address yet) are now known. */
  EndpointsAssigned: 'EndpointsAssigned',
  /** The pod is being replaced for a change MediaMTX cannot apply in place. */
  Restarting: 'Restarting',
  /** A server-restarting configuration change was applied while sessions were connected. */
  SessionsDropped: 'SessionsDropped',
  /** A recordings claim left behind by an earlier LiveStream of the same name is used again. */
  RecordingsAdopted: 'RecordingsAdopted',
  /** Recording resumed after a full volume (the pause itself is a Warning with reason VolumeFull). */
  RecordingResumed: 'RecordingResumed',
  /** The auth sidecar ended a publish session at spec.ingest.maxDuration. */
  MaxDurationReached: 'MaxDurationReached',
  /** A restream target receives the stream. */
  RestreamConnected: 'RestreamConnected',
  /** A restream target failed (refused the key, unreachable, dropped); MediaMTX retries it every 5 s. */
  RestreamRetrying: 'RestreamRetrying',
} as const;
