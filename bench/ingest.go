package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// nginxIngest is a local nginx-rtmp that accepts any stream and keeps
// nothing, so that RTMP outputs have somewhere real to go.
type nginxIngest struct {
	port int
	cmd  *exec.Cmd
}

func startNginx(dir string) (*nginxIngest, error) {
	dir, err := filepath.Abs(dir) // nginx resolves relative paths against its prefix
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	body := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
error_log %[1]s/nginx-error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:%[2]d; chunk_size 4096; application live { live on; } } }
`, dir, port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", conf)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx (apt-get install nginx libnginx-mod-rtmp): %w", err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return &nginxIngest{port: port, cmd: cmd}, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("nginx did not listen on %d", port)
}

func (n *nginxIngest) url(key string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", n.port, key)
}

func (n *nginxIngest) stop() {
	n.cmd.Process.Kill()
	n.cmd.Wait()
}
