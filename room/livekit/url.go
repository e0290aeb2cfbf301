package livekit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/livekit/protocol/auth"
)

// tokenTTL is how long a minted token is valid. The server refreshes the
// token of a connected participant every few minutes, and the SDK reconnects
// with the latest one, so a short TTL only bounds the damage of a leak.
const tokenTTL = 10 * time.Minute

// ParseURL splits a roomcast LiveKit URL into the signalling URL the SDK
// dials and the room name:
//
//	livekit://host:port/ROOM         -> ws://host:port, ROOM
//	livekit+ws://host:port/ROOM      -> ws://host:port, ROOM
//	livekit+https://host/ROOM        -> wss://host, ROOM
//	livekit+wss://host/ROOM          -> wss://host, ROOM
//
// Path segments before the room name are kept as a prefix of the signalling
// URL (a server behind a reverse proxy). Credentials never go in the URL.
func ParseURL(u string) (wsURL, roomName string, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		// url.Parse echoes the input; the input may carry userinfo, so say less.
		return "", "", errors.New("livekit: URL is not a valid URL")
	}
	var scheme string
	switch strings.ToLower(pu.Scheme) {
	case "livekit", "livekit+ws", "livekit+http":
		scheme = "ws"
	case "livekit+wss", "livekit+https":
		scheme = "wss"
	default:
		return "", "", fmt.Errorf("livekit: URL scheme %q is not livekit://, livekit+https:// or livekit+wss://", pu.Scheme)
	}
	if pu.User != nil {
		return "", "", errors.New("livekit: URL must not carry credentials; use LIVEKIT_API_KEY/LIVEKIT_API_SECRET or a token")
	}
	if pu.Host == "" {
		return "", "", errors.New("livekit: URL has no host")
	}
	if pu.RawQuery != "" || pu.Fragment != "" {
		return "", "", errors.New("livekit: URL must not have a query or fragment")
	}
	p := strings.Trim(pu.Path, "/")
	if p == "" {
		return "", "", errors.New("livekit: URL has no room name (livekit://host:port/ROOM)")
	}
	prefix := ""
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		prefix, p = "/"+p[:i], p[i+1:]
	}
	return scheme + "://" + pu.Host + prefix, p, nil
}

// recorderToken mints the bot's token: it may join and subscribe, and
// nothing else. Hidden keeps it out of the other peers' participant lists;
// Recorder tells the server it is a recorder, which also means it does not
// keep an otherwise empty room open.
func recorderToken(key, secret, roomName, identity string) (string, error) {
	g := &auth.VideoGrant{
		RoomJoin: true,
		Room:     roomName,
		Hidden:   true,
		Recorder: true,
	}
	g.SetCanSubscribe(true)
	g.SetCanPublish(false)
	g.SetCanPublishData(false)
	t, err := auth.NewAccessToken(key, secret).
		SetVideoGrant(g).
		SetIdentity(identity).
		SetName("roomcast").
		SetValidFor(tokenTTL).
		ToJWT()
	if err != nil {
		return "", errors.New("livekit: cannot sign the access token")
	}
	return t, nil
}

// publisherToken mints a normal participant's token that may publish.
func publisherToken(key, secret, roomName, identity, name string) (string, error) {
	g := &auth.VideoGrant{RoomJoin: true, Room: roomName}
	g.SetCanPublish(true)
	g.SetCanSubscribe(false)
	g.SetCanPublishData(false)
	t, err := auth.NewAccessToken(key, secret).
		SetVideoGrant(g).
		SetIdentity(identity).
		SetName(name).
		SetValidFor(tokenTTL).
		ToJWT()
	if err != nil {
		return "", errors.New("livekit: cannot sign the access token")
	}
	return t, nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
