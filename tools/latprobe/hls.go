package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

type hlsPart struct {
	uri string
	dur float64
}

type hlsSegment struct {
	uri   string
	dur   float64
	parts []hlsPart
	// EXT-X-GAP: MediaMTX pads a young playlist with these; there is nothing to fetch.
	gap bool
}

type mediaPlaylist struct {
	targetDur float64
	// EXT-X-SERVER-CONTROL PART-HOLD-BACK: how far behind the newest part a low-latency player stays.
	partHoldBack float64
	mediaSeq     int
	segments     []hlsSegment
	// The parts of the segment still being written (after the last complete one).
	trailing []hlsPart
}

func attr(line, key string) string {
	i := strings.Index(line, key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		return strings.SplitN(v[1:], `"`, 2)[0]
	}
	return strings.SplitN(v, ",", 2)[0]
}

func parseMedia(text string) (*mediaPlaylist, error) {
	p := &mediaPlaylist{}
	var pending []hlsPart
	var extinf float64 = -1
	gap := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "#EXT-X-TARGETDURATION:"):
			p.targetDur, _ = strconv.ParseFloat(l[len("#EXT-X-TARGETDURATION:"):], 64)
		case strings.HasPrefix(l, "#EXT-X-SERVER-CONTROL:"):
			p.partHoldBack, _ = strconv.ParseFloat(attr(l, "PART-HOLD-BACK"), 64)
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			p.mediaSeq, _ = strconv.Atoi(l[len("#EXT-X-MEDIA-SEQUENCE:"):])
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			d, _ := strconv.ParseFloat(attr(l, "DURATION"), 64)
			pending = append(pending, hlsPart{uri: attr(l, "URI"), dur: d})
		case l == "#EXT-X-GAP":
			gap = true
		case strings.HasPrefix(l, "#EXTINF:"):
			extinf, _ = strconv.ParseFloat(strings.TrimSuffix(strings.SplitN(l[len("#EXTINF:"):], ",", 2)[0], ","), 64)
		case l != "" && !strings.HasPrefix(l, "#"):
			if extinf < 0 {
				return nil, fmt.Errorf("segment %q without EXTINF", l)
			}
			p.segments = append(p.segments, hlsSegment{uri: l, dur: extinf, parts: pending, gap: gap})
			pending, extinf, gap = nil, -1, false
		}
	}
	p.trailing = pending
	if p.targetDur == 0 {
		return nil, fmt.Errorf("not a media playlist: %q", text)
	}
	return p, nil
}

type hlsClient struct {
	ctx   context.Context
	s     serverConf
	base  *url.URL // the media playlist's URL
	httpc *http.Client
}

func (h *hlsClient) get(u *url.URL) ([]byte, error) {
	req, _ := http.NewRequestWithContext(h.ctx, http.MethodGet, u.String(), nil)
	if h.s.Authorization != "" {
		req.Header.Set("Authorization", h.s.Authorization)
	}
	res, err := h.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.Path, res.Status)
	}
	return b, nil
}

// newHLSClient finds the media playlist in the multivariant one, retrying while the muxer starts.
func newHLSClient(ctx context.Context, s serverConf) (*hlsClient, error) {
	h := &hlsClient{ctx: ctx, s: s, httpc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	index, err := url.Parse(strings.TrimSuffix(s.HLS, "/") + "/index.m3u8")
	if err != nil {
		return nil, err
	}
	var last error
	for i := 0; i < 50 && ctx.Err() == nil; i++ {
		b, err := h.get(index)
		if err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				l = strings.TrimSpace(l)
				if l != "" && !strings.HasPrefix(l, "#") {
					ref, err := url.Parse(l)
					if err != nil {
						return nil, err
					}
					h.base = index.ResolveReference(ref) // keeps MediaMTX's ?session=
					return h, nil
				}
			}
			err = fmt.Errorf("no media playlist in %q", string(b))
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, last
}

func (h *hlsClient) playlist(query string) (*mediaPlaylist, error) {
	u := *h.base
	if query != "" {
		u.RawQuery = strings.TrimPrefix(u.RawQuery+"&"+query, "&")
	}
	b, err := h.get(&u)
	if err != nil {
		return nil, err
	}
	return parseMedia(string(b))
}

// fetchStamps reads a part or segment and returns the stamps of its frames in order, and when it finished reading.
func (h *hlsClient) fetchStamps(uri string) ([]stamp, int64, error) {
	ref, err := url.Parse(uri)
	if err != nil {
		return nil, 0, err
	}
	b, err := h.get(h.base.ResolveReference(ref))
	at := time.Now().UnixNano()
	if err != nil {
		return nil, at, err
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return nil, at, fmt.Errorf("%s: %w", uri, err)
	}
	var out []stamp
	for _, p := range parts {
		for _, t := range p.Tracks {
			for _, smp := range t.Samples {
				if st, ok := findStampAVCC(smp.Payload); ok {
					out = append(out, st)
				}
			}
		}
	}
	return out, at, nil
}

// readLLHLS is a low-latency client: it asks for the next part with a blocking playlist reload and fetches every
// part a playlist announces as soon as it sees it. Parts listed before it joined are skipped.
func readLLHLS(ctx context.Context, s serverConf, col *collector) error {
	h, err := newHLSClient(ctx, s)
	if err != nil {
		return err
	}
	pl, err := h.playlist("")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	mark := func(pl *mediaPlaylist) []string {
		var fresh []string
		for _, sg := range pl.segments {
			for _, p := range sg.parts {
				if !seen[p.uri] {
					fresh = append(fresh, p.uri)
					seen[p.uri] = true
				}
			}
		}
		for _, p := range pl.trailing {
			if !seen[p.uri] {
				fresh = append(fresh, p.uri)
				seen[p.uri] = true
			}
		}
		return fresh
	}
	mark(pl)
	for ctx.Err() == nil {
		msn := pl.mediaSeq + len(pl.segments)
		next, err := h.playlist(fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, len(pl.trailing)))
		if err != nil {
			col.fail(err)
			time.Sleep(100 * time.Millisecond)
			if next, err = h.playlist(""); err != nil {
				continue
			}
		}
		pl = next
		col.mu.Lock()
		col.holdBackMs = pl.partHoldBack * 1000
		col.mu.Unlock()
		for _, uri := range mark(pl) {
			sts, at, err := h.fetchStamps(uri)
			if err != nil {
				col.fail(err)
				continue
			}
			for _, st := range sts {
				col.frame(st, at)
			}
		}
	}
	return nil
}

// readHLS models hls.js with its defaults and low-latency mode off: start liveSyncDurationCount (3) target
// durations behind the live edge, fetch whole segments, reload the playlist every target duration (half of it
// when nothing new came), play in real time from the first segment's arrival, and stall when a segment is late.
// A frame's latency is when the model displays it minus its stamp.
func readHLS(ctx context.Context, s serverConf, col *collector) error {
	// One life per run: a model restarted after an error would start a new timeline.
	if col.started.Load() {
		<-ctx.Done()
		return nil
	}
	h, err := newHLSClient(ctx, s)
	if err != nil {
		return err
	}
	// A viewer of a running stream finds the playlist full; the first viewer of a muxer finds it growing, and hls.js
	// would then play from its start at the live edge and stall at every segment. The model is the steady-state
	// viewer: it joins once the playlist holds 3 target durations and a segment more.
	var pl *mediaPlaylist
	for {
		var err error
		if pl, err = h.playlist(""); err != nil {
			return err
		}
		total := 0.0
		for _, sg := range pl.segments {
			if !sg.gap {
				total += sg.dur
			}
		}
		if total >= 4*pl.targetDur {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(pl.targetDur * float64(time.Second) / 2)):
		}
	}
	if os.Getenv("LATPROBE_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "hls model joins: %+v\n", pl)
	}
	// The first segment that still has 3 target durations of media after its start.
	start, rest := len(pl.segments)-1, 0.0
	for ; start > 0; start-- {
		rest += pl.segments[start].dur
		if rest >= 3*pl.targetDur {
			break
		}
	}
	next := pl.mediaSeq + start
	var playAt, mediaAt, stallNs int64 // wall clock of the first display, its media time, stalls so far
	for ctx.Err() == nil {
		got := false
		for next < pl.mediaSeq+len(pl.segments) {
			if next < pl.mediaSeq {
				next = pl.mediaSeq // fell out of the window: jump ahead, as a player does
			}
			sg := pl.segments[next-pl.mediaSeq]
			next++
			if sg.gap {
				continue
			}
			sts, at, err := h.fetchStamps(sg.uri)
			got = true
			if err != nil {
				col.fail(err)
				continue
			}
			for i, st := range sts {
				if playAt == 0 {
					playAt, mediaAt = at, st.sentNs
					col.started.Store(true)
				}
				due := playAt + (st.sentNs - mediaAt) + stallNs
				if i == 0 && at > due {
					// The segment came after its first frame was due: the player waits for it.
					col.mu.Lock()
					col.stalls++
					col.stallMs += float64(at-due) / 1e6
					col.mu.Unlock()
					stallNs += at - due
					due = at
				}
				col.frame(st, due)
			}
		}
		wait := time.Duration(pl.targetDur * float64(time.Second))
		if !got {
			wait /= 2
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		next2, err := h.playlist("")
		if err != nil {
			col.fail(err)
			continue
		}
		pl = next2
	}
	return nil
}
