package main

// kube.go holds the client side: the kubeconfig, REST configs from it, and readiness.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const clusterName = "kube-test-cluster"

// writeKubeconfig writes contexts "admin" (current) and "limited", all data embedded.
func writeKubeconfig(path, server string, certs pki) error {
	ca, err := os.ReadFile(certs.CACert())
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	for _, id := range identities {
		cert, err := os.ReadFile(certs.ClientCert(id.user))
		if err != nil {
			return err
		}
		key, err := os.ReadFile(certs.ClientKey(id.user))
		if err != nil {
			return err
		}
		cfg.AuthInfos[id.user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
		cfg.Contexts[id.user] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: id.user, Namespace: "default"}
	}
	cfg.CurrentContext = "admin"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// restConfig loads one context of a kubeconfig, with client-side throttling off.
func restConfig(kubeconfig, context string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context},
	).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS = -1 // no client-side rate limit: the apiserver's own flow control decides
	return cfg, nil
}

// waitReady polls /readyz as admin until it answers 200, the apiserver exits, or 3 minutes pass.
func waitReady(ctx context.Context, server string, certs pki, apiDone <-chan struct{}, apiErr *error) error {
	caPEM, err := os.ReadFile(certs.CACert())
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert("admin"), certs.ClientKey("admin"))
	if err != nil {
		return err
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12,
		}},
	}
	deadline := time.After(3 * time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastStatus := "no answer"
	for {
		select {
		case <-apiDone:
			return fmt.Errorf("kube-apiserver exited before it was ready: %v", *apiErr)
		case <-ctx.Done():
			return fmt.Errorf("stopped before ready: %w", ctx.Err())
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after 3m (last /readyz: %s)", lastStatus)
		case <-tick.C:
			resp, err := client.Get(server + "/readyz")
			if err != nil {
				lastStatus = err.Error()
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastStatus = resp.Status
		}
	}
}

// portReservation hands out distinct free ports on 127.0.0.1, each held by an open listener
// until release(), so no two calls return the same port.
type portReservation struct{ listeners []net.Listener }

func (r *portReservation) next() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	r.listeners = append(r.listeners, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *portReservation) release() {
	for _, l := range r.listeners {
		l.Close()
	}
	r.listeners = nil
}
