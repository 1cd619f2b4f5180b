// What `npm run dev` prints for a streamer and a viewer, as a pure function so a test can run its commands.
export interface DevEndpoints {
  phase: string;
  clusterServer: string | undefined;
  /** rtmp://127.0.0.1:<port>/live on this machine. */
  server: string;
  streamKey: string;
  token: string;
  /** http://127.0.0.1:<port>/<path>/index.m3u8 on this machine. */
  hls: string;
  viewer: string;
  recordings: string;
}

export function devInstructions(e: DevEndpoints): string {
  return `
  LiveStream demo/keynote is ${e.phase}. In the cluster it is ${e.clusterServer}; on this
  machine the local pod runner serves it on loopback ports:

  OBS  Settings > Stream > Service: Custom
       Server      ${e.server}
       Stream Key  ${e.streamKey}?token=${e.token}

  ffmpeg (a test pattern):
       ffmpeg -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -preset veryfast \\
         -tune zerolatency -g 60 -pix_fmt yuv420p -c:a aac -f flv '${e.server}/${e.streamKey}?token=${e.token}'

  Watch (HLS, viewer token valid 1 h):
       ${e.hls}?jwt=${e.viewer}
       ffplay '${e.hls}?jwt=${e.viewer}'
       curl -L -H 'Authorization: Bearer ${e.viewer}' '${e.hls}'
       (-L: MediaMTX first answers 302 to the same playlist with ?cookieCheck=1)

  More viewer tokens:  npm run -s vstream -- token viewer --kubeconfig .vstream/kubeconfig --stream demo/keynote --key .vstream/viewer-private.jwk.json
  Inspect:             KUBECONFIG=.vstream/kubeconfig kubectl get livestreams -A   (if you have kubectl)
  Recordings:          ${e.recordings}

  Ctrl-C stops everything.
`;
}
