// Package janustest runs a real Janus 1.1.2 (Debian's) for tests, each in
// its own network namespace and configuration folder, with only the
// VideoRoom plugin and the HTTP transport.
//
// Janus skips loopback interfaces when it gathers ICE candidates, so on lo
// alone it offers nothing a local peer can reach. A namespace with a veth
// carrying 127.0.0.2 (Addr) makes it offer that address, which the kernel
// delivers locally and which no other machine can see. The namespace needs
// root, as CI has (.ci/run).
//
// Processes reach Janus by running inside the namespace (Netns.Command);
// the test process itself talks HTTP to it through Netns.HTTPClient, whose
// sockets are made in the namespace. Tests whose own process must take part
// in WebRTC (the connector's) call Main from TestMain: the test binary then
// runs re-executed inside a namespace, beside the servers it starts.
package janustest
