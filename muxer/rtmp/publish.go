package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// publish runs the RTMP handshake and the command sequence FMLE, OBS and
// FFmpeg use: connect, releaseStream, FCPublish, createStream, publish. Some
// ingests (notably the big platforms) expect releaseStream/FCPublish before
// they accept a publish. It returns once the server has confirmed the
// publish with NetStream.Publish.Start.
func (c *conn) publish(t *target) error {
	if err := clientHandshake(c.nc, c.r); err != nil {
		return fmt.Errorf("RTMP handshake: %w", err)
	}
	if err := c.writeControl(msgSetChunkSize, binary.BigEndian.AppendUint32(nil, outChunkSize)); err != nil {
		return err
	}
	// Only now: SetChunkSize itself had to go out in 128-byte chunks.
	c.wmu.Lock()
	c.w.chunkSize = outChunkSize
	c.wmu.Unlock()

	if err := c.writeCommand(0, "connect", txConnect, connectObject(t)); err != nil {
		return fmt.Errorf("send connect: %w", err)
	}
	res, err := c.waitCommand(func(cmd *command) bool { return cmd.isAnswer(txConnect) })
	if err != nil {
		return closedErr(err, fmt.Sprintf("during connect (application %q refused?)", t.app))
	}
	if res.name == "_error" || res.level() == "error" {
		return rejected("server refused connect to application %q: %s", t.app, res.status())
	}

	if err := c.writeCommand(0, "releaseStream", txReleaseStream, nil, t.key); err != nil {
		return fmt.Errorf("send releaseStream: %w", err)
	}
	if err := c.writeCommand(0, "FCPublish", txFCPublish, nil, t.key); err != nil {
		return fmt.Errorf("send FCPublish: %w", err)
	}
	if err := c.writeCommand(0, "createStream", txCreateStream, nil); err != nil {
		return fmt.Errorf("send createStream: %w", err)
	}
	res, err = c.waitCommand(func(cmd *command) bool { return cmd.isAnswer(txCreateStream) || isRefusal(cmd) })
	if err != nil {
		return closedErr(err, "during createStream (stream key refused?)")
	}
	if res.name != "_result" {
		return rejected("server refused createStream: %s", res.status())
	}
	id, ok := res.args[len(res.args)-1].(float64)
	if !ok || len(res.args) < 2 {
		return errors.New("createStream answer carries no stream id")
	}
	c.streamID = uint32(id)

	if err := c.writeCommand(c.streamID, "publish", txPublish, nil, t.key, "live"); err != nil {
		return fmt.Errorf("send publish: %w", err)
	}
	res, err = c.waitCommand(isPublishAnswer)
	if err != nil {
		return closedErr(err, "after the publish request, without confirming it (stream key refused?)")
	}
	if res.code() != "NetStream.Publish.Start" {
		return rejected("server refused the publish: %s", res.status())
	}
	return nil
}

// unpublish ends the publish politely: FCUnpublish, then deleteStream of the
// stream we published on. Errors are the caller's to ignore: the connection
// is closed right after either way.
func (c *conn) unpublish(t *target) {
	_ = c.writeCommand(0, "FCUnpublish", txFCUnpublish, nil, t.key)
	_ = c.writeCommand(0, "deleteStream", txDeleteStream, nil, float64(c.streamID))
}

// rejection is a refusal by the server, as opposed to a network failure.
type rejection struct{ msg string }

func (r *rejection) Error() string { return r.msg }

func rejected(format string, args ...any) error {
	return &rejection{msg: fmt.Sprintf(format, args...)}
}

// closedErr words a connection the server closed while we waited for an
// answer: nginx-rtmp and the big platforms refuse a key or an app that way,
// without a message.
func closedErr(err error, when string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) {
		return rejected("server closed the connection %s", when)
	}
	return err
}
