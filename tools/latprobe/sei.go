package main

import (
	"bytes"
	"encoding/binary"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// probeUUID marks our SEI user_data_unregistered messages (ITU-T H.264 D.1.7); any other SEI is ignored.
var probeUUID = []byte{0x76, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x2d, 0x6c, 0x61, 0x74, 0x70, 0x72, 0x6f, 0x62, 0x65} // "vstream-latprobe"

// stamp is what every frame carries: its sequence number and the wall clock (Unix ns) at which it was sent.
type stamp struct {
	seq    uint32
	sentNs int64
}

// seiNALU builds an SEI NAL unit (type 6) holding one user_data_unregistered message: UUID, seq, send time.
func seiNALU(s stamp) []byte {
	payload := make([]byte, 0, 28)
	payload = append(payload, probeUUID...)
	payload = binary.BigEndian.AppendUint32(payload, s.seq)
	payload = binary.BigEndian.AppendUint64(payload, uint64(s.sentNs))
	rbsp := []byte{5, byte(len(payload))} // payloadType 5, payloadSize 28 (< 255: one byte each)
	rbsp = append(rbsp, payload...)
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits
	return append([]byte{0x06}, emulationPrevent(rbsp)...)
}

// emulationPrevent inserts 0x03 after two zero bytes followed by a byte <= 3 (H.264 7.4.1): the send time's bytes
// can be anything, and a start code inside a NAL unit would split it for every parser downstream.
func emulationPrevent(b []byte) []byte {
	out := make([]byte, 0, len(b)+4)
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// findStamp returns the probe stamp of an access unit (NAL units without start codes), if it has one.
func findStamp(au [][]byte) (stamp, bool) {
	for _, n := range au {
		if len(n) < 2 || h264.NALUType(n[0]&0x1f) != h264.NALUTypeSEI {
			continue
		}
		rbsp := h264.EmulationPreventionRemove(n[1:])
		// SEI messages: payloadType and payloadSize as ff-extended bytes, then the payload.
		for len(rbsp) > 2 {
			pt, i := 0, 0
			for i < len(rbsp) && rbsp[i] == 0xff {
				pt += 255
				i++
			}
			if i >= len(rbsp) {
				break
			}
			pt += int(rbsp[i])
			i++
			size := 0
			for i < len(rbsp) && rbsp[i] == 0xff {
				size += 255
				i++
			}
			if i >= len(rbsp) {
				break
			}
			size += int(rbsp[i])
			i++
			if i+size > len(rbsp) {
				break
			}
			p := rbsp[i : i+size]
			if pt == 5 && size == 28 && bytes.Equal(p[:16], probeUUID) {
				return stamp{seq: binary.BigEndian.Uint32(p[16:20]), sentNs: int64(binary.BigEndian.Uint64(p[20:28]))}, true
			}
			rbsp = rbsp[i+size:]
			if len(rbsp) == 1 && rbsp[0] == 0x80 {
				break
			}
		}
	}
	return stamp{}, false
}

// findStampAVCC is findStamp for a length-prefixed (MP4) sample.
func findStampAVCC(sample []byte) (stamp, bool) {
	var au h264.AVCC
	if err := au.Unmarshal(sample); err != nil {
		return stamp{}, false
	}
	return findStamp(au)
}
