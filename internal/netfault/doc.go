// Package netfault emulates a bad network inside the process, for tests:
// a pion interceptor that drops, delays (jitter), reorders and duplicates
// the RTP a peer connection receives, and drops the RTCP it receives, with
// a seeded PRNG so that a case is the same every run.
//
// This machine's kernel has no netem, so the faults cannot be made in a
// network namespace; an interceptor is the next closest place to the wire.
// Registered before the SDK's own interceptors (room/livekit's
// Options.Interceptors does so), it reads the decrypted packets straight
// from the SRTP session, below the NACK generator, the receiver reports and
// TWCC: those see the faulty stream and answer it as they would a real one,
// so a dropped packet is NACKed and retransmitted by the SFU for real.
//
// pion binds an RTX repair stream through the same chain, so the SFU's
// retransmissions cross the faulty network too; it then hands them to the
// track around the primary stream's interceptors.
//
// It also counts what went back: the NACKs and PLIs the peer connection
// wrote, and the dropped packets that came again (retransmissions, on the
// same stream or by RTX) with how long after the drop.
package netfault
