// latprobe: the glass-to-glass latency probe of bench/latency.ts (npm run bench:latency).
//
// One publisher, many readers, one clock. ffmpeg encodes a test pattern (libx264, zerolatency, no B-frames, a
// fixed GOP) to Annex-B on a pipe, running ahead of real time; latprobe takes its access units one by one, sends
// each at its slot of a fixed frame clock and, just before sending it, inserts an H.264 SEI
// user_data_unregistered NAL unit with our UUID, the frame's sequence number and the wall-clock send time. The same
// stamped access unit goes over RTMP to every server of the run (one connection each). Readers on every server
// recover the stamp of every frame they receive, and latency = receive wall clock - stamp (same machine, same clock):
//
//	rtsp     gortsplib over TCP; a frame counts when its last RTP packet arrives.
//	webrtc   WHEP with pion (default interceptors: NACK, RTCP reports); a frame counts when its last RTP packet
//	         arrives. No jitter buffer and no decode: a browser adds those.
//	llhls    a low-latency HLS client: blocking playlist reloads (_HLS_msn/_HLS_part) for the next part, and each
//	         part fetched as soon as a playlist announces it; a frame counts when its part has been read.
//	hls      plain HLS as hls.js plays it with default settings and low-latency mode off (liveSyncDurationCount 3):
//	         it starts 3 target durations behind the live edge, fetches whole segments, reloads the playlist every
//	         target duration, and plays in real time from its first segment on, stalling (and so falling further
//	         behind) whenever the next segment has not arrived when it is due. A frame counts when the model
//	         displays it; the media clock is the stamp itself (frames are sent on a fixed clock).
//
// Not measured: capture and encode (the stamp is taken after the encoder; with zerolatency that is about one
// frame), and a player's decode, jitter buffer and render.
//
// Input: a JSON config file (-config; it holds credentials, so it is never a process argument). Output: JSON on
// stdout with per server and reader the latency distribution of the frames stamped inside the measured window.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type serverConf struct {
	Name string `json:"name"`
	// rtmp://host:port/path?query (the publish credential in the query).
	RTMP string `json:"rtmp"`
	// rtsp://user:pass@host:port/path
	RTSP string `json:"rtsp"`
	// http://host:port/path (the HLS server): index.m3u8 is below it.
	HLS string `json:"hls"`
	// http://host:port/path/whep
	WHEP string `json:"whep"`
	// The Authorization header value for HLS and WHEP requests ("Bearer <jwt>" or "Basic ...").
	Authorization string `json:"authorization"`
}

type config struct {
	FFmpeg    string       `json:"ffmpeg"`
	FPS       int          `json:"fps"`
	GOP       int          `json:"gop"`
	Size      string       `json:"size"`
	Bitrate   string       `json:"bitrate"`
	DurationS float64      `json:"duration_s"`
	WarmupS   float64      `json:"warmup_s"`
	Readers   []string     `json:"readers"`
	Servers   []serverConf `json:"servers"`
}

// collector keeps the first arrival of every stamped frame for one reader on one server.
type collector struct {
	started atomic.Bool
	mu      sync.Mutex
	lat     map[uint32]float64 // seq -> ms
	stalls  int
	stallMs float64
	// LL-HLS: the playlist's PART-HOLD-BACK, in ms.
	holdBackMs float64
	errors     []string
}

func newCollector() *collector { return &collector{lat: map[uint32]float64{}} }

func (c *collector) frame(s stamp, atNs int64) {
	c.mu.Lock()
	if _, seen := c.lat[s.seq]; !seen {
		c.lat[s.seq] = float64(atNs-s.sentNs) / 1e6
	}
	c.mu.Unlock()
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	if len(c.errors) < 5 {
		c.errors = append(c.errors, err.Error())
	}
	c.mu.Unlock()
}

type readerResult struct {
	Frames   int     `json:"frames"`
	Expected int     `json:"expected"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Min      float64 `json:"min_ms"`
	Max      float64 `json:"max_ms"`
	Stalls   *int    `json:"stalls,omitempty"`
	// LL-HLS: PART-HOLD-BACK, and how many frames arrived later than that after their stamp (each would have
	// stalled a player that holds exactly PART-HOLD-BACK behind the stamp clock).
	PartHoldBackMs *float64 `json:"part_hold_back_ms,omitempty"`
	LaterThanHold  *int     `json:"frames_later_than_hold_back,omitempty"`
	StallMs        *float64 `json:"stall_ms,omitempty"`
	Errors         []string `json:"errors,omitempty"`
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func round1(x float64) float64 { return math.Round(x*100) / 100 } // 10 µs: WebRTC and RTSP medians are near 1 ms

// result summarizes the frames whose seq lies in [from, to): the measured window.
func (c *collector) result(from, to uint32, playback bool) readerResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	var xs []float64
	for seq, ms := range c.lat {
		if seq >= from && seq < to {
			xs = append(xs, ms)
		}
	}
	sort.Float64s(xs)
	r := readerResult{Frames: len(xs), Expected: int(to - from), Errors: c.errors}
	if len(xs) > 0 {
		r.P50, r.P95, r.P99 = round1(quantile(xs, 0.5)), round1(quantile(xs, 0.95)), round1(quantile(xs, 0.99))
		r.Min, r.Max = round1(xs[0]), round1(xs[len(xs)-1])
	}
	if c.holdBackMs > 0 {
		hb, late := round1(c.holdBackMs), 0
		for _, x := range xs {
			if x > c.holdBackMs {
				late++
			}
		}
		r.PartHoldBackMs, r.LaterThanHold = &hb, &late
	}
	if playback {
		st, ms := c.stalls, round1(c.stallMs)
		r.Stalls, r.StallMs = &st, &ms
	}
	return r
}

func main() {
	path := flag.String("config", "", "JSON config file")
	flag.Parse()
	raw, err := os.ReadFile(*path)
	if err != nil {
		fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	pub, err := startPublisher(ctx, cfg)
	if err != nil {
		fatal(err)
	}
	defer pub.close()

	// Readers join once the stream is on air everywhere.
	time.Sleep(time.Second)
	cols := map[string]map[string]*collector{}
	for _, s := range cfg.Servers {
		cols[s.Name] = map[string]*collector{}
		for _, r := range cfg.Readers {
			c := newCollector()
			cols[s.Name][r] = c
			go runReader(ctx, r, s, c)
		}
	}

	frameDur := time.Second / time.Duration(cfg.FPS)
	from := uint32(cfg.WarmupS * float64(cfg.FPS))
	to := from + uint32(cfg.DurationS*float64(cfg.FPS))
	// Until the last measured frame is sent, plus time for the slowest reader (plain HLS) to get it.
	// Joining takes a while (the RTMP publish is announced once MediaMTX has seen its tracks): errors until the
	// window opens are part of joining, not of the measurement.
	go func() {
		time.Sleep(time.Until(pub.start.Add(time.Duration(from) * frameDur)))
		for _, byReader := range cols {
			for _, c := range byReader {
				c.mu.Lock()
				c.errors = nil
				c.mu.Unlock()
			}
		}
	}()
	wait := time.Until(pub.start.Add(time.Duration(to)*frameDur)) + 12*time.Second
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	case err := <-pub.done:
		fatal(fmt.Errorf("publisher stopped: %w", err))
	}

	out := map[string]any{"fps": cfg.FPS, "gop": cfg.GOP, "frames_sent": pub.sent(), "window": []uint32{from, to}}
	servers := map[string]map[string]readerResult{}
	for name, byReader := range cols {
		servers[name] = map[string]readerResult{}
		for r, c := range byReader {
			servers[name][r] = c.result(from, to, r == "hls")
		}
	}
	out["servers"] = servers
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// runReader keeps a reader connected: it retries (the stream takes a moment to come on air, and a reader that
// drops should come back as a player would). Errors before the measured window are forgotten (see main).
func runReader(ctx context.Context, kind string, s serverConf, c *collector) {
	for ctx.Err() == nil {
		if err := readOnce(ctx, kind, s, c); err != nil && ctx.Err() == nil {
			c.fail(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func readOnce(ctx context.Context, kind string, s serverConf, c *collector) error {
	var err error
	switch kind {
	case "rtsp":
		err = readRTSP(ctx, s, c)
	case "webrtc":
		err = readWHEP(ctx, s, c)
	case "llhls":
		err = readLLHLS(ctx, s, c)
	case "hls":
		err = readHLS(ctx, s, c)
	default:
		err = fmt.Errorf("unknown reader %q", kind)
	}
	return err
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "latprobe:", err)
	os.Exit(1)
}
