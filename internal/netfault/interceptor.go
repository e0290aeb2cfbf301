package netfault

import (
	"hash/fnv"
	"io"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// Factory makes the fault interceptor of each peer connection; give it to
// room/livekit's Options.Interceptors. All its interceptors share one set
// of counters.
type Factory struct {
	f Fault

	video, audio, rtx           Counters
	rtcpReceived, rtcpDropped   atomic.Int64
	nacks, nackedPackets        atomic.Int64
	plis, firs, streams, serial atomic.Int64

	// videoSets holds the dropped sets of every video stream, copied on
	// write: an RTX packet repairs one of them. pion binds a stream before
	// it knows its payload type (StreamInfo.PayloadType is 0 and an RTX
	// stream's fmtp empty), so the RTX stream cannot be told its primary;
	// the streams' sequence numbers start at random, so a repaired number
	// is looked up in all of them.
	mu        sync.Mutex
	videoSets atomic.Pointer[[]*seqSet]
	origin    atomic.Int64 // the first packet's arrival, UnixNano: see scheduler.origin
}

var _ interceptor.Factory = (*Factory)(nil)

// New returns a Factory for f, or an error naming the field out of range.
func New(f Fault) (*Factory, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	fa := &Factory{f: f}
	fa.videoSets.Store(&[]*seqSet{})
	return fa, nil
}

// Fault is the fault the Factory was made with.
func (fa *Factory) Fault() Fault { return fa.f }

// Stats returns the counters so far.
func (fa *Factory) Stats() Stats {
	return Stats{
		Video: fa.video.snapshot(), Audio: fa.audio.snapshot(), RTX: fa.rtx.snapshot(),
		RTCPReceived: fa.rtcpReceived.Load(), RTCPDropped: fa.rtcpDropped.Load(),
		NACKs: fa.nacks.Load(), NACKedPackets: fa.nackedPackets.Load(),
		PLIs: fa.plis.Load(), FIRs: fa.firs.Load(), Streams: fa.streams.Load(),
	}
}

// NewInterceptor implements interceptor.Factory.
func (fa *Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	n := uint64(fa.serial.Add(1))
	return &faultInterceptor{fa: fa, rtcpRNG: rand.New(rand.NewPCG(fa.f.Seed, n<<32|0x5254))}, nil
}

// faultInterceptor is one peer connection's faulty network.
type faultInterceptor struct {
	interceptor.NoOp
	fa *Factory

	rtcpMu  sync.Mutex
	rtcpRNG *rand.Rand
}

// BindRemoteStream puts the stream behind a scheduler, fed by a goroutine
// that reads the network side for as long as it gives packets.
func (fi *faultInterceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	fi.fa.streams.Add(1)
	c := &fi.fa.audio
	m := strings.ToLower(info.MimeType)
	rtx := strings.HasSuffix(m, "/rtx")
	switch {
	case rtx:
		c = &fi.fa.rtx
	case strings.HasPrefix(m, "video/"):
		c = &fi.fa.video
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(m))
	s := &stream{
		sched: newScheduler(fi.fa.f, fi.fa.f.Seed, h.Sum64()^uint64(info.ClockRate), c),
		wake:  make(chan struct{}, 1),
		timer: time.NewTimer(time.Hour),
	}
	s.sched.origin = &fi.fa.origin
	switch {
	case rtx:
		s.sched.repairs = &fi.fa.videoSets
	case c == &fi.fa.video:
		fi.fa.mu.Lock()
		sets := append(slices.Clone(*fi.fa.videoSets.Load()), s.sched.dropped)
		fi.fa.videoSets.Store(&sets)
		fi.fa.mu.Unlock()
	}
	s.timer.Stop()
	go s.pump(reader)
	return s
}

// BindRTCPReader drops received RTCP compound packets at Fault.RTCPLoss.
func (fi *faultInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			fi.fa.rtcpReceived.Add(1)
			fi.rtcpMu.Lock()
			drop := fi.rtcpRNG.Float64() < fi.fa.f.RTCPLoss
			fi.rtcpMu.Unlock()
			if !drop {
				return n, attr, nil
			}
			fi.fa.rtcpDropped.Add(1)
		}
	})
}

// BindRTCPWriter counts the feedback sent: the proof that loss was noticed.
func (fi *faultInterceptor) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				fi.fa.nacks.Add(1)
				for _, pair := range p.Nacks {
					fi.fa.nackedPackets.Add(1 + int64(bits.OnesCount16(uint16(pair.LostPackets))))
				}
			case *rtcp.PictureLossIndication:
				fi.fa.plis.Add(1)
			case *rtcp.FullIntraRequest:
				fi.fa.firs.Add(1)
			}
		}
		return writer.Write(pkts, a)
	})
}

// stream is one remote stream behind the fault: pump admits what the
// network side gives, Read hands out what is due.
type stream struct {
	mu    sync.Mutex
	sched *scheduler
	err   error // the network side's error: the stream is over
	wake  chan struct{}
	timer *time.Timer // Read's alone
}

func (s *stream) pump(reader interceptor.RTPReader) {
	for {
		s.mu.Lock()
		buf := s.sched.buffer()
		s.mu.Unlock()
		n, _, err := reader.Read(buf, nil)
		s.mu.Lock()
		if err != nil {
			s.sched.recycle(buf)
			s.err = err
		} else {
			s.sched.admit(buf[:n], time.Now())
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// Read implements interceptor.RTPReader. Attributes start afresh with each
// packet (a duplicate must not carry its twin's parsed header).
func (s *stream) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	for {
		s.mu.Lock()
		buf, ok, wake := s.sched.pop(time.Now())
		if ok {
			n := copy(b, buf)
			short := n < len(buf)
			s.sched.recycle(buf)
			s.mu.Unlock()
			if short {
				return 0, a, io.ErrShortBuffer
			}
			return n, a, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return 0, a, err
		}
		if wake.IsZero() {
			<-s.wake
			continue
		}
		s.timer.Reset(time.Until(wake))
		select {
		case <-s.wake:
		case <-s.timer.C:
		}
		s.timer.Stop()
	}
}
