package main

import "testing"

// The shape MediaMTX 1.20.1 serves for a young Low-Latency stream (taken from a run): GAP padding, then a segment
// with its parts, then the parts of the open segment and a preload hint.
const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.33500,CAN-SKIP-UNTIL=6
#EXT-X-PART-INF:PART-TARGET=0.13400
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="a_init.mp4?session=s"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T20:00:00.000Z
#EXT-X-PART:DURATION=0.13333,URI="a_part0.mp4?session=s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.13333,URI="a_part1.mp4?session=s"
#EXTINF:1.00000,
a_seg2.mp4?session=s
#EXT-X-PART:DURATION=0.13333,URI="a_part2.mp4?session=s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a_part3.mp4?session=s"
`

func TestParseMedia(t *testing.T) {
	p, err := parseMedia(llPlaylist)
	if err != nil {
		t.Fatal(err)
	}
	if p.targetDur != 1 || p.mediaSeq != 1 || p.partHoldBack != 0.335 {
		t.Fatalf("header: %+v", p)
	}
	if len(p.segments) != 2 || !p.segments[0].gap || p.segments[1].gap || p.segments[1].uri != "a_seg2.mp4?session=s" {
		t.Fatalf("segments: %+v", p.segments)
	}
	if len(p.segments[1].parts) != 2 || len(p.trailing) != 1 || p.trailing[0].uri != "a_part2.mp4?session=s" {
		t.Fatalf("parts: %+v / %+v", p.segments[1].parts, p.trailing)
	}
}
