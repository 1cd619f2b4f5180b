package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

type publisher struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan error
	count atomic.Uint32
}

func (p *publisher) sent() uint32 { return p.count.Load() }
func (p *publisher) close() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// accessUnits splits ffmpeg's Annex-B stream at its access unit delimiters (h264_metadata=aud=insert).
func accessUnits(r io.Reader, out chan<- [][]byte) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var buf []byte
	var au [][]byte
	chunk := make([]byte, 64<<10)
	for {
		n, err := br.Read(chunk)
		buf = append(buf, chunk[:n]...)
		// Every NAL unit followed by another start code is complete.
		for {
			s := bytes.Index(buf, []byte{0, 0, 1})
			if s < 0 {
				break
			}
			e := bytes.Index(buf[s+3:], []byte{0, 0, 1})
			if e < 0 {
				buf = buf[s:]
				break
			}
			nalu := bytes.TrimRight(buf[s+3:s+3+e], "\x00")
			buf = buf[s+3+e:]
			if len(nalu) == 0 {
				continue
			}
			if h264.NALUType(nalu[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
				if len(au) > 0 {
					out <- au
				}
				au = nil
				continue
			}
			au = append(au, append([]byte(nil), nalu...))
		}
		if err != nil {
			return err
		}
	}
}

// withStamp puts the SEI before the first slice (H.264 7.4.1.2.3: SEI precedes the primary coded picture).
func withStamp(au [][]byte, s stamp) [][]byte {
	out := make([][]byte, 0, len(au)+1)
	put := false
	for _, n := range au {
		t := h264.NALUType(n[0] & 0x1f)
		if !put && (t == h264.NALUTypeIDR || t == h264.NALUTypeNonIDR) {
			out = append(out, seiNALU(s))
			put = true
		}
		out = append(out, n)
	}
	return out
}

func startPublisher(ctx context.Context, cfg config) (*publisher, error) {
	gop := strconv.Itoa(cfg.GOP)
	cmd := exec.CommandContext(ctx, cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", cfg.Size, cfg.FPS),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-bf", "0",
		"-b:v", cfg.Bitrate, "-maxrate", cfg.Bitrate, "-bufsize", cfg.Bitrate,
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &publisher{cmd: cmd, done: make(chan error, 1)}
	aus := make(chan [][]byte, 8)
	go func() { p.done <- accessUnits(stdout, aus) }()

	// The first access unit is an IDR with SPS and PPS: RTMP's sequence header needs them before any frame.
	first := <-aus
	var sps, pps []byte
	for _, n := range first {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	if sps == nil || pps == nil {
		return nil, fmt.Errorf("the encoder's first access unit has no SPS/PPS")
	}

	type sink struct {
		w     *gortmplib.Writer
		track *gortmplib.Track
		c     *gortmplib.Client
		ch    chan func() error
	}
	var sinks []*sink
	for _, s := range cfg.Servers {
		u, err := url.Parse(s.RTMP)
		if err != nil {
			return nil, err
		}
		c := &gortmplib.Client{URL: u, Publish: true}
		if err := c.Initialize(ctx); err != nil {
			return nil, fmt.Errorf("%s: rtmp publish: %w", s.Name, err)
		}
		track := &gortmplib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}}
		w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
		if err := w.Initialize(); err != nil {
			return nil, fmt.Errorf("%s: rtmp publish: %w", s.Name, err)
		}
		sk := &sink{w: w, track: track, c: c, ch: make(chan func() error, 64)}
		// One writer goroutine per server: a slow server never delays the frames of another.
		go func() {
			for f := range sk.ch {
				if err := f(); err != nil {
					p.done <- fmt.Errorf("rtmp write: %w", err)
					return
				}
			}
		}()
		// Drain what the server sends (acks); nothing in it matters here.
		go func() {
			for {
				if _, err := c.Read(); err != nil {
					return
				}
			}
		}()
		sinks = append(sinks, sk)
	}

	frameDur := time.Second / time.Duration(cfg.FPS)
	p.start = time.Now()
	go func() {
		au := first
		for n := uint32(0); ; n++ {
			if n > 0 {
				var ok bool
				select {
				case au, ok = <-aus:
					if !ok {
						return
					}
				case <-ctx.Done():
					return
				}
			}
			time.Sleep(time.Until(p.start.Add(time.Duration(n) * frameDur)))
			s := stamp{seq: n, sentNs: time.Now().UnixNano()}
			stamped := withStamp(au, s)
			pts := time.Duration(n) * frameDur
			for _, sk := range sinks {
				sk := sk
				sk.ch <- func() error { return sk.w.WriteH264(sk.track, pts, pts, stamped) }
			}
			p.count.Store(n + 1)
		}
	}()
	return p, nil
}
