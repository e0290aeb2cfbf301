package rtmp

// The chunk layer (RTMP spec 5.3): messages cut into chunks of at most the
// peer's chunk size, each chunk stream (csid) carrying one message at a
// time. chunkReader and chunkWriter each work over a plain io.Reader or
// io.Writer, so they can be tested and fuzzed without a connection.

// RTMP message types (RTMP spec 5.4, 7.1).
const (
	msgSetChunkSize     = 1
	msgAbort            = 2
	msgAck              = 3
	msgUserControl      = 4
	msgWindowAckSize    = 5
	msgSetPeerBandwidth = 6
	msgAudio            = 8
	msgVideo            = 9
	msgAMF3Command      = 17
	msgAMF0Data         = 18
	msgAMF0Command      = 20
)

const (
	// defaultChunkSize is what both sides use until a SetChunkSize.
	defaultChunkSize = 128
	// maxInMessage bounds what we buffer from the server; it only ever sends
	// commands and control messages, a few hundred bytes each.
	maxInMessage = 1 << 20
	// maxInChunkStreams bounds the chunk streams a server may open. Servers
	// use three or four; each stream keeps a partly read message, so
	// without a bound a hostile server could make us hold up to
	// maxInMessage on each of 65,599 of them.
	maxInChunkStreams = 64
)

// message is one reassembled RTMP message.
type message struct {
	csid     uint32 // the chunk stream it came on
	typ      byte
	streamID uint32
	ts       uint32
	payload  []byte
}
