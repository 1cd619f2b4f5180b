package main

import "testing"

func TestStampRoundTrip(t *testing.T) {
	for _, s := range []stamp{{1, 0}, {0, 0x0000000300000001}, {42, 1764099999123456789}, {0xffffffff, -1}} {
		n := seiNALU(s)
		for i := 0; i+2 < len(n); i++ {
			if n[i] == 0 && n[i+1] == 0 && n[i+2] <= 3 && n[i+2] != 3 {
				t.Fatalf("start-code emulation at %d in %x", i, n)
			}
		}
		got, ok := findStamp([][]byte{{0x09, 0xf0}, n, {0x65, 1, 2}})
		if !ok || got != s {
			t.Fatalf("stamp %+v came back as %+v (%v)", s, got, ok)
		}
	}
	if _, ok := findStamp([][]byte{{0x06, 0x05, 0x01, 0x00, 0x80}}); ok {
		t.Fatal("a foreign SEI was taken for a stamp")
	}
}
