package runner

import (
	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Operations of a request.
const (
	opStart      = "start"
	opStop       = "stop"
	opState      = "state"
	opSetLayout  = "setLayout"
	opAddRTMP    = "addRtmp"
	opRemoveRTMP = "removeRtmp"
)

// request is what the parent asks the child. The first request of a child
// is its one start.
type request struct {
	ID     uint64      `json:"id"`
	Op     string      `json:"op"`
	Config *config.Job `json:"config,omitempty"`
	Out    string      `json:"out,omitempty"`
	// Part is the job's part (fleet failover), from 1; 0 is the first.
	Part int `json:"part,omitempty"`
	// HTTPSocket and HTTPBase come with a start whose job serves HTTP (live
	// HLS): the child serves on that Unix socket, and its state gives URLs
	// under HTTPBase, where the parent proxies to it.
	HTTPSocket string `json:"httpSocket,omitempty"`
	HTTPBase   string `json:"httpBase,omitempty"`
	Layout     string `json:"layout,omitempty"`
	URL        string `json:"url,omitempty"`
}

// message is what the child says: a reply to request Reply, an event, or
// the end of the job (Done, with the final state).
type message struct {
	Reply uint64          `json:"reply,omitempty"`
	Error *jobstate.Error `json:"error,omitempty"`
	Event string          `json:"event,omitempty"`
	State *jobstate.State `json:"state,omitempty"`
	Done  bool            `json:"done,omitempty"`
}

// maxLine bounds one message; a state object is a few KiB.
const maxLine = 1 << 20
