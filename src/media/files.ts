// Files on the media emptyDir: the media container writes the keyframe, the thumbnail container the JPEG, the auth
// sidecar serves it. A module of its own so none of them loads another's dependencies.
export const MEDIA_FILES = {
  keyframe: 'keyframe.flv',
  thumbnail: 'thumbnail.jpg',
} as const;
