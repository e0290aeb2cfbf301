// Package rtmp is the RTMP(S) live-streaming sink: it publishes the job's
// single H.264 + AAC encode to one ingest URL (YouTube, Twitch, Facebook,
// nginx-rtmp...). The job makes one Sink per URL; the muxer fan-out gives
// each its own goroutine and bounded queue.
//
// The RTMP client is this package's own, in layers, each in its file:
// handshake.go (C0/C1, S0/S1, C2, S2), chunk_reader.go and chunk_writer.go
// (messages to and from chunks, over a plain io.Reader or io.Writer, so they
// are fuzzed on their own), amf0.go (the value encoding), command.go (the
// AMF0 commands and the server's answers), publish.go (the sequence) and
// conn.go (dial, deadlines, the read loop, failure). flv.go and annexb.go
// turn the encoder's packets into FLV tag bodies.
//
// A publish is plain handshake, then connect, releaseStream, FCPublish,
// createStream and publish, and counts as up only once the server answers
// NetStream.Publish.Start. Every
// step up to that answer shares one deadline (Options.ConnectTimeout), so a
// refused connection, a silent server or a refused key is known within it;
// when the server says why (an _error or an onStatus at level "error") its
// words are in the error. nginx-rtmp and the big platforms refuse a key by
// closing the connection, which is reported as such.
//
// The socket's send buffer is sized to about a second of the stream
// (64 KiB to 4 MiB) rather than left to autotune to megabytes, in which an
// ingest that stopped reading would go unseen for tens of seconds: with it
// a stall blocks the sink's Write within seconds, the fan-out drops GOPs
// and reports the output stalled, and a write that makes no progress for
// 10 s drops the connection.
//
// A dropped connection is retried from Write with backoff (0.5 s doubling to
// 8 s) for Options.RetryWindow, packets being dropped meanwhile; each new
// connection gets onMetaData, the AVC and AAC sequence headers again and
// starts at the next keyframe. Timestamps continue on the job's timeline
// across reconnects (as OBS does) rather than restarting at zero: players
// and ingests handle a jump forward better than a jump back.
//
// Stream keys are secret. MaskURL shows a URL as rtmp://host/app/****, and
// every error, report and log line of this package goes through a redactor
// that also masks the key where a library or the server quotes it.
package rtmp
