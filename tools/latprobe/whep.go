package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// readWHEP plays the stream over WHEP. ICE runs on loopback only (host candidates of `lo`), UDP.
func readWHEP(ctx context.Context, s serverConf, col *collector) error {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	failed := make(chan error, 1)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeH264) {
			return
		}
		dec := &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			failed <- err
			return
		}
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				failed <- err
				return
			}
			at := time.Now().UnixNano()
			au, err := dec.Decode(pkt)
			if err != nil {
				continue
			}
			if st, ok := findStamp(au); ok {
				col.frame(st, at)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.WHEP, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if s.Authorization != "" {
		req.Header.Set("Authorization", s.Authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("whep: %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}
