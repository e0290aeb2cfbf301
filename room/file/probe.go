package file

import (
	"fmt"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/mediafile"
	"github.com/roomcast/roomcast/room"
)

// MediaFile is a probed media file: at most one video and one audio stream
// of an allowed codec.
type MediaFile struct {
	Path      string        // resolved path
	Duration  time.Duration // container duration; 0 when the container does not say
	StartTime time.Duration // container start time; 0 when it does not say
	Video     *mediafile.Stream
	Audio     *mediafile.Stream
}

// Allowed codecs, as the error messages list them.
const allowedCodecs = "video: VP8, VP9, H.264, AV1; audio: Opus"

// probeMedia opens path and checks its streams against the room's rules. A
// screen file's audio is ignored (the room publishes screen video only), so
// it is not checked.
func probeMedia(path string, screen bool) (*MediaFile, error) {
	info, err := mediafile.Probe(path)
	if err != nil {
		return nil, err
	}
	mf := &MediaFile{Path: path, Duration: info.Duration, StartTime: info.StartTime}
	var bad []string
	for _, s := range info.Streams {
		if screen && s.Kind == room.KindAudio {
			continue
		}
		if !s.Supported() {
			bad = append(bad, fmt.Sprintf("stream #%d is %s codec %s", s.Index, s.Kind, s.CodecName))
			continue
		}
		if s.Kind == room.KindVideo {
			if mf.Video != nil {
				return nil, fmt.Errorf("%s: streams #%d and #%d are both video; a peer's file may hold one video and one audio stream", path, mf.Video.Index, s.Index)
			}
			mf.Video = s
		} else {
			if mf.Audio != nil {
				return nil, fmt.Errorf("%s: streams #%d and #%d are both audio; a peer's file may hold one video and one audio stream", path, mf.Audio.Index, s.Index)
			}
			mf.Audio = s
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %s; allowed codecs are %s", path, strings.Join(bad, "; "), allowedCodecs)
	}
	if screen && mf.Video == nil {
		return nil, fmt.Errorf("%s has no video stream; a screen share must be a video file (VP8, VP9, H.264 or AV1)", path)
	}
	if mf.Video == nil && mf.Audio == nil {
		return nil, fmt.Errorf("%s: no video or audio stream; a peer's media needs at least one (%s)", path, allowedCodecs)
	}
	return mf, nil
}
