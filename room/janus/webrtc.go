package janus

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// newAPI builds the pion API both the recorder and the Publisher use:
// every codec VideoRoom may forward (Opus; VP8, VP9, H.264, AV1), the
// RFC 6464 audio-level extension and pion's default interceptors (NACK,
// RTCP reports).
//
// Loopback candidates are included (and pion's mDNS only queries, so
// no .local candidates are offered): a recorder on Janus's
// own machine then reaches it locally (and the tests' Janus, which only
// offers 127.0.0.2, at all), and a remote Janus just never pairs with them.
// audioLevelURI is RFC 6464's header extension.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// A publisher offers one payload type per codec: VideoRoom answers with
// the first of a codec's that it finds, and pion sends a track only on the
// exact one it was made for.
func newAPI(publisher bool, extra ...interceptor.Factory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if !publisher {
		if err := m.RegisterDefaultCodecs(); err != nil {
			return nil, fmt.Errorf("janus: codecs: %w", err)
		}
	} else {
		// Simulcast layers are told apart by these.
		for _, uri := range []string{"urn:ietf:params:rtp-hdrext:sdes:mid", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, fmt.Errorf("janus: %s: %w", uri, err)
			}
		}
		for _, c := range publisherCodecs {
			if err := m.RegisterCodec(c.p, c.kind); err != nil {
				return nil, fmt.Errorf("janus: codecs: %w", err)
			}
		}
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("janus: audio level extension: %w", err)
	}
	ir := &interceptor.Registry{}
	for _, f := range extra {
		ir.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("janus: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// canonicalMime spells a MIME type as the room contract does.
func canonicalMime(m string) string {
	switch m {
	case "video/vp8", "video/VP8":
		return webrtc.MimeTypeVP8
	case "video/vp9", "video/VP9":
		return webrtc.MimeTypeVP9
	case "video/h264", "video/H264":
		return webrtc.MimeTypeH264
	case "video/av1", "video/AV1":
		return webrtc.MimeTypeAV1
	case "audio/opus", "audio/OPUS":
		return webrtc.MimeTypeOpus
	}
	return m
}

var publisherCodecs = []struct {
	p    webrtc.RTPCodecParameters
	kind webrtc.RTPCodecType
}{
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: pionVP9Fmtp, RTCPFeedback: videoFeedback}, PayloadType: 98}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: pionH264Fmtp, RTCPFeedback: videoFeedback}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
	{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 45}, webrtc.RTPCodecTypeVideo},
}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
