// The thumbnail containers of a stream pod, rendered only with spec.thumbnails.enabled: other streams keep their
// containers and pay nothing.
//   - `media` runs `vstream media` from the operator's own image: it plays the stream from the pod's MediaMTX over
//     RTMP on loopback (with the pod-internal token, inside the RTMP play command) and once per interval writes the
//     next keyframe as a small FLV file on a shared emptyDir (src/media/).
//   - `thumbnail` runs ffmpeg from MediaMTX's ffmpeg image on that file: it decodes one frame per interval, never
//     touches the network and holds no credential (its command line has file names only).
// The auth sidecar serves the JPEG behind the playback access rule (src/auth/media.ts).
import type { ResolvedSpec } from '../api/livestream.ts';
import { MEDIA_FILES } from '../media/files.ts';
import { secretFiles } from './mediamtx-config.ts';
import { plainListener, TLS_PORTS } from './ports.ts';

export const MEDIA_DIR = '/var/run/vstream/media';
export const MEDIA_CONFIG_FILE = 'media.json';
/** MediaMTX's image with ffmpeg, for the thumbnail container (the controller's --ffmpeg-image overrides it). */
export const DEFAULT_FFMPEG_IMAGE = 'docker.io/bluenviron/mediamtx:1.20.1-ffmpeg';

export interface MediaConfig {
  path: string;
  /** The pod's MediaMTX RTMP(S) listener on loopback. */
  source: string;
  /** RTMPS on loopback: the certificate names the external host, not 127.0.0.1 (the connection never leaves the pod). */
  sourceInsecureTls?: boolean;
  api: string;
  apiTokenFile: string;
  /** The shared emptyDir, with a trailing slash like every mount path in the files the pod reads. */
  dir: string;
  thumbnails: { intervalSeconds: number };
}

export const mediaNeeded = (spec: ResolvedSpec) => Boolean(spec.thumbnails?.enabled);

/** Where the media container reads the pod's stream: plain RTMP on loopback when MediaMTX serves it, else RTMPS. */
function source(spec: ResolvedSpec): { url: string; insecure: boolean } {
  // Without rtmp ingest, MediaMTX's RTMP server is switched on for loopback only (mediamtxConfig), plain.
  if (spec.tls && spec.ingest.protocols.includes('rtmp') && !plainListener(spec, 'rtmp'))
    return { url: `rtmps://127.0.0.1:${TLS_PORTS.rtmp.port}`, insecure: true };
  return { url: 'rtmp://127.0.0.1:1935', insecure: false };
}

export function mediaConfig(spec: ResolvedSpec): MediaConfig {
  const src = source(spec);
  return {
    path: spec.path,
    source: src.url,
    ...(src.insecure ? { sourceInsecureTls: true } : {}),
    api: 'http://127.0.0.1:9997',
    apiTokenFile: `${secretFiles.internal}/api-token`,
    dir: `${MEDIA_DIR}/`,
    thumbnails: { intervalSeconds: spec.thumbnails.intervalSeconds },
  };
}

export const mediaVolumes = (): unknown[] => [{ name: 'media', emptyDir: { sizeLimit: '16Mi' } }];

/**
 * The ffmpeg loop of the thumbnail container: whenever the media container has written a newer keyframe file,
 * decode its one frame to a JPEG (written aside, then renamed, so the sidecar never serves half a file).
 */
export const thumbnailScript = (dir: string) =>
  [
    `cd ${dir}`,
    'while sleep 1; do',
    // (-nt alone is false in dash and busybox while the JPEG does not exist yet.)
    `  if [ -s ${MEDIA_FILES.keyframe} ] && { [ ! -e ${MEDIA_FILES.thumbnail} ] || [ ${MEDIA_FILES.keyframe} -nt ${MEDIA_FILES.thumbnail} ]; }; then`,
    `    ffmpeg -nostdin -hide_banner -loglevel error -y -f flv -i ${MEDIA_FILES.keyframe} -frames:v 1 -q:v 4 -f image2 thumbnail.tmp.jpg && mv -f thumbnail.tmp.jpg ${MEDIA_FILES.thumbnail}`,
    '  fi',
    'done',
  ].join('\n');

export interface MediaContainerOptions {
  image: string;
  ffmpegImage?: string;
  command: string[];
  securityContext: Record<string, unknown>;
  configDir: string;
}

export function mediaContainers(o: MediaContainerOptions): unknown[] {
  const media = {
    name: 'media',
    image: o.image,
    command: o.command,
    args: ['media', '--config', `${o.configDir}/${MEDIA_CONFIG_FILE}`],
    // One RTMP reader that keeps a keyframe: little CPU (bench/media.ts), a small heap.
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    securityContext: o.securityContext,
    volumeMounts: [
      { name: 'config', mountPath: o.configDir, readOnly: true },
      { name: 'internal', mountPath: secretFiles.internal, readOnly: true },
      { name: 'media', mountPath: MEDIA_DIR },
    ],
  };
  const thumbnail = {
    name: 'thumbnail',
    image: o.ffmpegImage ?? DEFAULT_FFMPEG_IMAGE,
    command: ['/bin/sh', '-c', thumbnailScript(`${MEDIA_DIR}/`)],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: o.securityContext,
    volumeMounts: [{ name: 'media', mountPath: MEDIA_DIR }],
  };
  return [media, thumbnail];
}
