package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

func readRTSP(ctx context.Context, s serverConf, col *collector) error {
	u, err := base.ParseURL(s.RTSP)
	if err != nil {
		return err
	}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return fmt.Errorf("rtsp describe: %w", err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return fmt.Errorf("rtsp: no H264 track")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fmt.Errorf("rtsp setup: %w", err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		at := time.Now().UnixNano()
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed, or a loss: the frame is then simply not counted
		}
		if st, ok := findStamp(au); ok {
			col.frame(st, at)
		}
	})
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("rtsp play: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	}
}
