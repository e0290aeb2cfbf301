// Package avpacket hands Go bytes to FFmpeg as a packet with the input
// padding FFmpeg requires. go-astiav v0.16.0's Packet.FromData copies the
// bytes into an unpadded buffer and declares it padded; this package is the
// one place in roomcast that works around that.
package avpacket
