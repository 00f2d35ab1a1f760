// Command kube-test-cluster runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver in this one process on 127.0.0.1, with generated certificates, two
// client identities (admin and limited) and a kubeconfig. There is no kubelet and no
// controller-manager: objects are stored and validated, pods never run.
//
// Usage:
//
//	kube-test-cluster [serve] --kubeconfig PATH [--ready-file PATH] [--data-dir DIR]
//	    [--seed DIR] [--port N] [--etcd-port N] [--exit-with-parent] [-- extra kube-apiserver flags]
//	kube-test-cluster seed-scale --kubeconfig PATH [--namespaces N] ...
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

//go:embed rbac.yaml
var rbacYAML []byte

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "seed-scale" {
		os.Exit(runSeedScale(args[1:]))
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	os.Exit(serve(args))
}

type serveFlags struct {
	dataDir    string
	keepData   bool
	kubeconfig string
	readyFile  string
	seedDir    string
	port       int
	etcdPort   int
	peerPort   int
	noFsync    bool
	withParent bool
	extra      []string
}

func parseServeFlags(args []string) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("kube-test-cluster", flag.ContinueOnError)
	fs.StringVar(&f.dataDir, "data-dir", "", "state directory (pki, etcd, ports); kept on exit. Default: a temp dir removed on exit")
	fs.BoolVar(&f.keepData, "keep-data", false, "keep the temp data dir on exit")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "where to write the kubeconfig (required)")
	fs.StringVar(&f.readyFile, "ready-file", "", "JSON file written once /readyz is ok and the seed is applied; removed on exit")
	fs.StringVar(&f.seedDir, "seed", "", "directory of *.yaml fixtures to apply (in name order) after start")
	fs.IntVar(&f.port, "port", 0, "apiserver secure port (0: reuse the data dir's, else random)")
	fs.IntVar(&f.etcdPort, "etcd-port", 0, "etcd client port (0: reuse the data dir's, else random)")
	fs.IntVar(&f.peerPort, "etcd-peer-port", 0, "etcd peer port (0: reuse the data dir's, else random)")
	fs.BoolVar(&f.noFsync, "unsafe-no-fsync", true, "run etcd without fsync (test data is thrown away)")
	fs.BoolVar(&f.withParent, "exit-with-parent", false, "stop cleanly when the process that started this one is gone")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.extra = fs.Args() // after "--": passed on to kube-apiserver
	if f.kubeconfig == "" {
		return f, errors.New("--kubeconfig is required")
	}
	var err error
	if f.dataDir != "" {
		// The apiserver gets file paths under the data dir: make them absolute.
		if f.dataDir, err = filepath.Abs(f.dataDir); err != nil {
			return f, err
		}
	}
	return f, nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "kube-test-cluster: "+format+"\n", a...)
}

// serve runs the control plane until SIGTERM/SIGINT and returns the exit code.
func serve(args []string) int {
	// Create the apiserver command first: it installs the SIGTERM/SIGINT handler whose
	// context stops everything, so a signal at any later point shuts down cleanly.
	apiCmd := app.NewAPIServerCommand()
	ctx := apiCmd.Context()

	f, err := parseServeFlags(args)
	if err != nil {
		logf("%v", err)
		return 2
	}
	if f.withParent {
		go watchParent(os.Getppid())
	}
	removeData := false
	if f.dataDir == "" {
		if f.dataDir, err = os.MkdirTemp("", "kube-test-cluster-"); err != nil {
			logf("%v", err)
			return 1
		}
		removeData = !f.keepData
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		logf("%v", err)
		return 1
	}
	code := run(ctx, apiCmd, f)
	if f.readyFile != "" {
		_ = os.Remove(f.readyFile)
	}
	if removeData {
		if err := os.RemoveAll(f.dataDir); err != nil {
			logf("remove data dir: %v", err)
		}
	}
	return code
}

// watchParent asks for a clean shutdown once the parent is gone (this process is then
// re-parented), so a test run that crashed leaves no apiserver behind.
func watchParent(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			logf("parent process %d is gone", parent)
			genericapiserver.RequestShutdown()
			return
		}
	}
}

func run(ctx context.Context, apiCmd interface {
	SetArgs([]string)
	Execute() error
}, f serveFlags) int {
	ports, err := choosePorts(f)
	if err != nil {
		logf("choose ports: %v", err)
		return 1
	}
	certs, err := ensurePKI(filepath.Join(f.dataDir, "pki"))
	if err != nil {
		logf("generate certificates: %v", err)
		return 1
	}
	start := time.Now()
	etcd, err := startEtcd(ctx, filepath.Join(f.dataDir, "etcd"), ports.Etcd, ports.EtcdPeer, f.noFsync)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer etcd.Close()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports.Etcd)
	server := fmt.Sprintf("https://127.0.0.1:%d", ports.API)
	logf("etcd ready at %s after %s", etcdURL, time.Since(start).Round(time.Millisecond))

	if err := writeKubeconfig(f.kubeconfig, server, certs); err != nil {
		logf("write kubeconfig: %v", err)
		return 1
	}

	apiCmd.SetArgs(append(apiserverArgs(f.dataDir, certs, ports.API, etcdURL), f.extra...))
	// apiDone is closed when the apiserver returns; apiErr is then what it returned.
	apiDone := make(chan struct{})
	var apiErr error
	go func() {
		apiErr = apiCmd.Execute()
		close(apiDone)
	}()

	code := 0
	if err := waitReady(ctx, server, certs, apiDone, &apiErr); err != nil {
		logf("%v", err)
		code = 1
	} else {
		logf("kube-apiserver ready at %s after %s", server, time.Since(start).Round(time.Millisecond))
		if err := bootstrap(ctx, f); err != nil {
			logf("%v", err)
			code = 1
		} else if err := writeReadyFile(f, server, certs, etcdURL); err != nil {
			logf("write ready file: %v", err)
			code = 1
		}
	}
	if code != 0 {
		// The apiserver's only stop switch is its signal context: pull it.
		genericapiserver.RequestShutdown()
	}
	select {
	case <-apiDone:
		if ctx.Err() == nil {
			logf("kube-apiserver stopped on its own: %v", apiErr)
			return 1
		}
	case <-ctx.Done():
		logf("stopping")
		select {
		case <-apiDone:
		case <-time.After(30 * time.Second):
			logf("kube-apiserver did not stop within 30s")
			code = 1
		}
	}
	return code
}

// bootstrap creates the limited identity's RBAC and applies the seed fixtures as admin.
func bootstrap(ctx context.Context, f serveFlags) error {
	cfg, err := restConfig(f.kubeconfig, "admin")
	if err != nil {
		return err
	}
	a, err := newApplier(cfg)
	if err != nil {
		return err
	}
	if _, err := a.applyDocs(ctx, rbacYAML, "rbac.yaml"); err != nil {
		return fmt.Errorf("bootstrap RBAC: %w", err)
	}
	if f.seedDir == "" {
		return nil
	}
	start := time.Now()
	n, err := a.applyDir(ctx, f.seedDir)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	logf("seeded %d objects from %s in %s", n, f.seedDir, time.Since(start).Round(time.Millisecond))
	return nil
}

// serviceCIDR holds the Services' ClusterIPs, inside 198.18.0.0/15 (the test network range, as the
// test node's pod network): test traffic to a ClusterIP never leaves the host.
const serviceCIDR = "198.18.128.0/24"

func apiserverArgs(dataDir string, certs pki, port int, etcdURL string) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(dataDir, "apiserver"),
		"--tls-cert-file=" + certs.ServingCert(),
		"--tls-private-key-file=" + certs.ServingKey(),
		"--client-ca-file=" + certs.CACert(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.SAPub(),
		"--service-account-signing-key-file=" + certs.SAKey(),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		// The lease reconciler refuses a loopback advertise address; with "none" the
		// kubernetes Service still exists, it just has no endpoints (nothing could use them).
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

// clusterPorts are chosen once per data dir and reused, so a restart serves the same URL.
type clusterPorts struct {
	API      int `json:"api"`
	Etcd     int `json:"etcd"`
	EtcdPeer int `json:"etcd_peer"`
}

func choosePorts(f serveFlags) (clusterPorts, error) {
	path := filepath.Join(f.dataDir, "ports.json")
	var p clusterPorts
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return p, fmt.Errorf("%s: %w", path, err)
		}
	}
	// Each new port is reserved (its listener kept open) until all three are chosen: closing
	// one before asking for the next let the kernel hand out the same port twice.
	var reserved portReservation
	defer reserved.release()
	for _, c := range []struct {
		flag int
		dst  *int
	}{{f.port, &p.API}, {f.etcdPort, &p.Etcd}, {f.peerPort, &p.EtcdPeer}} {
		switch {
		case c.flag != 0:
			*c.dst = c.flag
		case *c.dst == 0:
			port, err := reserved.next()
			if err != nil {
				return p, err
			}
			*c.dst = port
		}
	}
	if p.API == p.Etcd || p.API == p.EtcdPeer || p.Etcd == p.EtcdPeer {
		return p, fmt.Errorf("ports must differ: api %d, etcd %d, etcd peer %d", p.API, p.Etcd, p.EtcdPeer)
	}
	data, _ := json.Marshal(p)
	return p, os.WriteFile(path, data, 0o644)
}

type readyInfo struct {
	PID          int    `json:"pid"`
	Server       string `json:"server"`
	Kubeconfig   string `json:"kubeconfig"`
	CAFile       string `json:"ca_file"`
	OtherCAFile  string `json:"other_ca_file"`
	EtcdEndpoint string `json:"etcd_endpoint"`
	DataDir      string `json:"data_dir"`
}

func writeReadyFile(f serveFlags, server string, certs pki, etcdURL string) error {
	if f.readyFile == "" {
		return nil
	}
	kc, _ := filepath.Abs(f.kubeconfig)
	dd, _ := filepath.Abs(f.dataDir)
	info := readyInfo{
		PID: os.Getpid(), Server: server, Kubeconfig: kc, CAFile: certs.CACert(),
		OtherCAFile: certs.OtherCACert(), EtcdEndpoint: etcdURL, DataDir: dd,
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	// Write then rename, so a reader never sees half a file.
	tmp := f.readyFile + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.readyFile)
}
