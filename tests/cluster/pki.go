package main

// pki.go generates (or reloads) the certificates the test cluster needs: a CA, the
// apiserver's serving cert, the service-account signing key, client certs for the
// two test identities, and an unrelated CA for "wrong CA" tests.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of every generated file; all live under one directory.
type pki struct {
	dir string
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

func (p pki) CACert() string                { return p.path("ca.crt") }
func (p pki) CAKey() string                 { return p.path("ca.key") }
func (p pki) ServingCert() string           { return p.path("apiserver.crt") }
func (p pki) ServingKey() string            { return p.path("apiserver.key") }
func (p pki) SAKey() string                 { return p.path("sa.key") }
func (p pki) SAPub() string                 { return p.path("sa.pub") }
func (p pki) OtherCACert() string           { return p.path("other-ca.crt") }
func (p pki) ClientCert(user string) string { return p.path("client-" + user + ".crt") }
func (p pki) ClientKey(user string) string  { return p.path("client-" + user + ".key") }

// identity is a client certificate subject: CN is the user name, O the groups.
type identity struct {
	user   string
	groups []string
}

var identities = []identity{
	{user: "admin", groups: []string{"system:masters"}},
	{user: "limited", groups: []string{"registry-installer:limited"}},
}

// ensurePKI reuses the files in dir when they are all there (a restart keeps the
// kubeconfig valid) and generates them all otherwise.
func ensurePKI(dir string) (pki, error) {
	p := pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, err
	}
	want := []string{p.CACert(), p.CAKey(), p.ServingCert(), p.ServingKey(), p.SAKey(), p.SAPub(), p.OtherCACert()}
	for _, id := range identities {
		want = append(want, p.ClientCert(id.user), p.ClientKey(id.user))
	}
	complete := true
	for _, f := range want {
		if _, err := os.Stat(f); err != nil {
			complete = false
			break
		}
	}
	if complete {
		return p, nil
	}
	return p, generatePKI(p)
}

func generatePKI(p pki) error {
	caCert, caKey, err := newCA("kube-test-cluster-ca")
	if err != nil {
		return err
	}
	if err := writeCert(p.CACert(), caCert); err != nil {
		return err
	}
	if err := writeKey(p.CAKey(), caKey); err != nil {
		return err
	}

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("198.18.128.1")},
	}
	if err := issue(p.ServingCert(), p.ServingKey(), serving, caCert, caKey); err != nil {
		return err
	}
	for _, id := range identities {
		client := &x509.Certificate{
			Subject:     pkix.Name{CommonName: id.user, Organization: id.groups},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := issue(p.ClientCert(id.user), p.ClientKey(id.user), client, caCert, caKey); err != nil {
			return err
		}
	}

	// RSA keeps the service-account tokens verifiable by every client library.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writeKey(p.SAKey(), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(p.SAPub(), "PUBLIC KEY", pub, 0o644); err != nil {
		return err
	}

	otherCA, _, err := newCA("unrelated-ca")
	if err != nil {
		return err
	}
	return writeCert(p.OtherCACert(), otherCA)
}

func newCA(name string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func issue(certPath, keyPath string, tmpl, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(5 * 365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writeKey(keyPath, key)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func writeCert(path string, cert *x509.Certificate) error {
	return writePEM(path, "CERTIFICATE", cert.Raw, 0o644)
}

func writeKey(path string, key crypto.Signer) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return writePEM(path, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600)
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return err
		}
		return writePEM(path, "EC PRIVATE KEY", der, 0o600)
	}
	return fmt.Errorf("unsupported key type %T", key)
}

func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if data == nil {
		return errors.New("pem encoding failed")
	}
	return os.WriteFile(path, data, mode)
}
