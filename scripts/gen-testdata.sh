#!/usr/bin/env bash
# gen-testdata.sh regenerates the media under testdata/ from FFmpeg's lavfi
# sources, so every clip is synthetic, small and reproducible. The outputs are
# committed; run this only to change them. It is idempotent: encoders run
# single-threaded with bitexact flags, so a rerun writes the same bytes.
#
# Usage: scripts/gen-testdata.sh   (from anywhere; needs the ffmpeg CLI)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$root/testdata/peers"
bad="$root/testdata/rooms/bad"
mkdir -p "$peers" "$bad"

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# Flags shared by every output: no version strings or random UIDs in the
# files, one thread so the encoders are deterministic.
common=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -threads 1)

# Audio: Opus 48 kHz stereo, 20 ms frames, like a browser sends.
opus=(-c:a libopus -b:a 32k -frame_duration 20 -application audio -ar 48000 -ac 2)

# Video: one keyframe a second so late joins and unmutes recover quickly.
vp8=(-c:v libvpx -b:v 100k -crf 30 -deadline good -cpu-used 4 -g 30 -keyint_min 30 -auto-alt-ref 0 -lag-in-frames 0 -pix_fmt yuv420p)
h264=(-c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency -bf 0 -g 30 -keyint_min 30 -sc_threshold 0 -b:v 100k -maxrate 150k -bufsize 150k -pix_fmt yuv420p)

# FFmpeg 5.1's Matroska muxer writes Opus's CodecDelay but does not offset the
# audio blocks by it, so a one-step encode shifts everything by the encoder's
# pre-skip (the first Opus packet has a negative timestamp) and the demuxer
# then takes the delay off the audio only: video ends up 6.5 ms late. So each
# clip is made in three steps: video alone, audio alone to Ogg (which keeps
# the exact pre-skip), then a stream-copy mux that shifts the audio packets
# by the pre-skip, which is what newer muxers do. Demuxed, the first audio
# packet then starts at -pre-skip, its first decoded sample (after pre-skip)
# at 0, and the first video frame at 0.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# mux VIDEO_IN AUDIO_OGG OUT: the final stream-copy mux described above.
mux() {
	local v=$1 a=$2 out=$3 pts offset
	pts=$(ffprobe -v error -select_streams a:0 -show_entries packet=pts -read_intervals '%+#1' -of csv=p=0 "$a")
	offset=$(awk -v p="$pts" 'BEGIN { printf "%.6f", -p / 48000 }')
	ff -i "$v" -itsoffset "$offset" -i "$a" -map 0:v -map 1:a -c copy "${common[@]}" "$out"
}

# demo_peer NAME COLOUR SIZE HZ OUT VIDEO_CODEC_ARGS...
# A solid saturated background with a white square crossing it, and a sine.
demo_peer() {
	local name=$1 colour=$2 size=$3 hz=$4 out=$5
	local ext=${out##*.}
	shift 5
	ff -f lavfi -i "color=c=$colour:s=$size:r=30:d=12" \
		-f lavfi -i "color=c=white:s=24x24:r=30:d=12" \
		-filter_complex "[0:v][1:v]overlay=x='mod(t*80,W-w)':y='(H-h)/2+(H-h)/3*sin(t*2)':eval=frame:shortest=1,format=yuv420p[v]" \
		-map '[v]' "$@" "${common[@]}" "$tmp/$name.v.$ext"
	ff -f lavfi -i "sine=frequency=$hz:sample_rate=48000:duration=12" \
		-af "volume=2,pan=stereo|c0=c0|c1=c0" "${opus[@]}" "${common[@]}" "$tmp/$name.a.ogg"
	mux "$tmp/$name.v.$ext" "$tmp/$name.a.ogg" "$peers/$out"
}

demo_peer alice red 320x240 300 alice.webm "${vp8[@]}"
demo_peer bob 0x00FF00 384x216 500 bob.webm "${vp8[@]}"
demo_peer carol blue 320x240 700 carol.mkv "${h264[@]}"
demo_peer dave yellow 320x240 900 dave.webm "${vp8[@]}"

# slides.webm: a screen share, video only, 15 fps, 480x270: a magenta page
# whose white "bullet" bars appear one by one, then start over.
ff -f lavfi -i "color=c=magenta:s=480x270:r=15:d=12" \
	-vf "drawbox=x=40:y=40:w=400:h=30:color=white:t=fill,drawbox=x=60:y=100:w=300:h=20:color=white:t=fill:enable='gte(mod(t,6),2)',drawbox=x=60:y=150:w=340:h=20:color=white:t=fill:enable='gte(mod(t,6),4)',format=yuv420p" \
	-an "${vp8[@]}" -g 15 -keyint_min 15 "${common[@]}" "$peers/slides.webm"

# sync_peer OUT PERIOD_FRAMES PERIOD_SAMPLES HZ: grey video that turns white
# for 2 frames, and a 60 ms (2880-sample) tone, at every multiple of the
# period from the first one on. Both conditions are on integer frame and
# sample numbers so the instants are exact. The tone starts at phase 0.
# Opus runs in its low-delay (CELT-only) mode here: in the default mode the
# first beep after a second of digital silence comes out with a soft attack,
# its energy centre 1.8 ms late, while every beep in CELT-only mode is within
# 0.2 ms. (Its pre-skip is 120 samples rather than 312.)
sync_peer() {
	local out=$1 pf=$2 ps=$3 hz=$4
	ff -f lavfi -i "color=c=gray:s=320x240:r=30:d=10" \
		-vf "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='gte(n,$pf)*lt(mod(n,$pf),2)',format=yuv420p" \
		"${vp8[@]}" "${common[@]}" "$tmp/$out.v.webm"
	ff -f lavfi -i "aevalsrc=exprs='if(gte(n,$ps)*lt(mod(n,$ps),2880),0.5*sin(2*PI*$hz*n/48000),0)':s=48000:d=10" \
		-af "pan=stereo|c0=c0|c1=c0" "${opus[@]}" -application lowdelay "${common[@]}" "$tmp/$out.a.ogg"
	mux "$tmp/$out.v.webm" "$tmp/$out.a.ogg" "$peers/$out"
}

sync_peer sync-a.webm 30 48000 1000 # every 1.0 s, 1 kHz
sync_peer sync-b.webm 39 62400 2000 # every 1.3 s, 2 kHz

# Codec coverage: 2 s, 160x120 clips in the other allowed codecs and
# containers. VP9 + Opus in WebM, AV1 alone in WebM, and H.264 + Opus in MP4
# (AVCC from MP4 rather than Matroska; MP4 keeps Opus's pre-skip exactly in
# its edit list, so it needs no separate mux).
ff -f lavfi -i "color=c=cyan:s=160x120:r=30:d=2" \
	-c:v libvpx-vp9 -b:v 50k -deadline realtime -cpu-used 8 -row-mt 0 -g 30 -pix_fmt yuv420p "${common[@]}" "$tmp/vp9.v.webm"
ff -f lavfi -i "sine=frequency=400:sample_rate=48000:duration=2" -af "volume=2,pan=stereo|c0=c0|c1=c0" "${opus[@]}" "${common[@]}" "$tmp/vp9.a.ogg"
mux "$tmp/vp9.v.webm" "$tmp/vp9.a.ogg" "$peers/codec-vp9.webm"
ff -f lavfi -i "color=c=orange:s=160x120:r=30:d=2" \
	-c:v libaom-av1 -b:v 40k -cpu-used 8 -row-mt 0 -g 30 -pix_fmt yuv420p "${common[@]}" "$peers/codec-av1.webm"
ff -f lavfi -i "color=c=purple:s=160x120:r=30:d=2" -f lavfi -i "sine=frequency=800:sample_rate=48000:duration=2" \
	-map 0:v -map 1:a "${h264[@]}" -af "volume=2,pan=stereo|c0=c0|c1=c0" "${opus[@]}" "${common[@]}" "$peers/codec-h264.mp4"

# Bad inputs: MPEG-4 Part 2 video with AAC audio (two unsupported codecs),
# and an audio-only file (not a valid screen share).
ff -f lavfi -i "color=c=red:s=64x48:r=10:d=1" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
	-c:v mpeg4 -q:v 20 -c:a aac -b:a 16k "${common[@]}" "$bad/mpeg4-aac.mp4"
ff -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
	"${opus[@]}" -b:a 16k "${common[@]}" "$bad/audio-only.webm"

du -ch "$peers" "$bad" | tail -n 1
