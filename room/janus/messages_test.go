package janus

import (
	"testing"
)

func TestParseMessages(t *testing.T) {
	ms, err := parseMessages([]byte(`[{"janus":"keepalive"},{"janus":"event","sender":123,"transaction":"t1",
		"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"updated","room":"standup",
		"streams":[{"type":"video","active":false,"mid":"0","feed_id":99,"feed_mid":"1","feed_description":"screen"}]}},
		"jsep":{"type":"offer","sdp":"v=0"}}]`))
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v %d", err, len(ms))
	}
	m := ms[1]
	if m.Sender != "123" || m.JSEP == nil || m.JSEP.Type != "offer" {
		t.Fatalf("%+v", m)
	}
	v, err := m.videoroomData()
	if err != nil || v.Room != "standup" || len(v.Streams) != 1 {
		t.Fatalf("%+v %v", v, err)
	}
	if st := v.Streams[0]; st.FeedID != "99" || st.active() || sourceOf(st.FeedDescription) != "screen" {
		t.Errorf("%+v", st)
	}
	one, err := parseMessages([]byte(` {"janus":"success","data":{"id":18446744073709551615}} `))
	if err != nil || one[0].Data.ID != "18446744073709551615" {
		t.Errorf("%+v %v", one, err)
	}
	for _, bad := range []string{"", "nope", `{"data":{"id":-1}}`, `{"data":{"id":1.5}}`, `[{"janus":1}]`} {
		if _, err := parseMessages([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseMessages: no bytes from Janus make the decoder panic, and what
// decodes has ids that are numbers or strings.
func FuzzParseMessages(f *testing.F) {
	for _, s := range []string{
		`{"janus":"keepalive"}`,
		`[{"janus":"event","sender":1,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"attached","streams":[{"mid":"0","feed_id":5,"active":true}]}},"jsep":{"type":"offer","sdp":"v=0"}}]`,
		`{"janus":"success","plugindata":{"data":{"videoroom":"participants","participants":[{"id":"abc","display":"x","publisher":true}]}}}`,
		`{"janus":"error","error":{"code":458,"reason":"No such session"}}`,
		`{"janus":"event","plugindata":{"data":{"videoroom":"event","error_code":426,"error":"No such room"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := parseMessages(b)
		if err != nil {
			return
		}
		for i := range ms {
			v, err := ms[i].videoroomData()
			if err != nil || v == nil {
				continue
			}
			for _, st := range v.Streams {
				_ = st.active()
				_ = sourceOf(st.FeedDescription)
				_ = st.FeedID.value()
			}
			for _, p := range v.Participants {
				_ = p.ID.value()
			}
		}
	})
}
