package worker

import "github.com/roomcast/roomcast/muxer/tracks"

func trackFiles(fs []tracks.File) []TrackFile {
	out := make([]TrackFile, 0, len(fs))
	for _, f := range fs {
		out = append(out, TrackFile{
			PeerID: f.PeerID, PeerName: f.PeerName, TrackID: f.TrackID, Kind: string(f.Kind), Source: string(f.Source),
			Codec: f.Codec, Path: f.Path, StartOffsetSeconds: f.Start.Seconds(),
		})
	}
	return out
}
