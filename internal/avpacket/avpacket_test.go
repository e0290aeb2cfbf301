package avpacket

import (
	"bytes"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestSetData(t *testing.T) {
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var scratch []byte
	for _, data := range [][]byte{[]byte("a longer first payload"), []byte("short"), {}} {
		var err error
		scratch, err = SetData(pkt, data, scratch)
		if err != nil {
			t.Fatal(err)
		}
		if pkt.Size() != len(data) || !bytes.Equal(pkt.Data(), data) {
			t.Errorf("packet holds %q (size %d), want %q", pkt.Data(), pkt.Size(), data)
		}
		// What FromData copied ends in Padding zero bytes, whatever
		// scratch held before.
		if pad := scratch[len(data) : len(data)+Padding]; !bytes.Equal(pad, make([]byte, Padding)) {
			t.Errorf("padding after %q is %v", data, pad)
		}
		pkt.Unref()
	}
}
