// vcsim — a vCenter API simulator for nativesnap's pyvmomi tests, built by tools/build-vcsim
// from Debian's govmomi 0.24.2 sources (package golang-github-vmware-govmomi-dev) with the
// fixes of govmomi-0.24.2-fixes.patch applied through `go build -overlay`.
//
// It builds govmomi's VPX model (a vCenter: datacenter DC0, standalone host DC0_H0, cluster
// DC0_C0 of 3 hosts, datastore LocalDS_0, 2 VMs per host/pool by default), serves it over
// HTTPS on -listen, prints one line on stdout, the SDK URL (https://127.0.0.1:PORT/sdk),
// once it accepts connections, and serves until SIGTERM or SIGINT (or the end of its
// standard input with -watch-stdin), then removes its datastore directories and exits 0.
//
// TLS: the certificate and key are read from -tls-cert and -tls-key when both files exist;
// otherwise a self-signed ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost is made
// and written there, so a restart with the same files serves the same certificate. The
// certificate is its own CA: clients verify the server with -tls-cert as their CA file.
//
// Logins: only -username with -password is accepted; anything else faults InvalidLogin.
//
// The inventory lives in memory: a restart begins again from the model (the same names,
// managed object ids and UUIDs, which the simulator derives from the VMs' paths, but no
// snapshot or clone made before).
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: a free port)")
	username := flag.String("username", "user", "the only user name Login accepts")
	password := flag.String("password", "pass", "the only password Login accepts")
	certFile := flag.String("tls-cert", "", "PEM certificate (also the clients' CA file); made if missing (required)")
	keyFile := flag.String("tls-key", "", "PEM private key; made with -tls-cert if missing (required)")
	dir := flag.String("datastore-dir", "", "directory the datastores' directories are made in (default $TMPDIR)")
	vms := flag.Int("vm", 2, "VMs per standalone host and per cluster resource pool")
	hosts := flag.Int("standalone-host", 1, "standalone hosts per datacenter")
	clusters := flag.Int("cluster", 1, "clusters per datacenter")
	clusterHosts := flag.Int("host", 3, "hosts per cluster")
	datastores := flag.Int("ds", 1, "datastores (LocalDS_N), mounted on every host")
	autostart := flag.Bool("autostart", true, "power the model's VMs on")
	delay := flag.Int("delay", 0, "milliseconds to wait before serving every SOAP call")
	methodDelay := flag.String("method-delay", "", "per-method delays before serving, e.g. CreateSnapshot_Task=2000,PowerOffVM_Task=500")
	trace := flag.Bool("trace", false, "write SOAP requests and responses to stderr")
	watchStdin := flag.Bool("watch-stdin", false, "also exit when standard input ends (the parent died)")
	flag.Parse()

	log.SetPrefix("vcsim: ")
	if *certFile == "" || *keyFile == "" {
		log.Fatal("-tls-cert and -tls-key are required")
	}
	cert, err := loadOrMakeCert(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("TLS certificate: %v", err)
	}
	delays, err := parseMethodDelays(*methodDelay)
	if err != nil {
		log.Fatalf("-method-delay: %v", err)
	}
	if *dir != "" {
		// The model makes each datastore's directory with ioutil.TempDir("", ...).
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			log.Fatal(err)
		}
		os.Setenv("TMPDIR", *dir)
	}
	simulator.Trace = *trace

	model := simulator.VPX()
	model.Autostart = *autostart
	model.Machine = *vms
	model.Host = *hosts
	model.Cluster = *clusters
	model.ClusterHost = *clusterHosts
	model.Datastore = *datastores
	model.DelayConfig.Delay = *delay
	model.DelayConfig.MethodDelay = delays
	if err := model.Create(); err != nil {
		model.Remove()
		log.Fatalf("creating the model: %v", err)
	}

	// A Listen URL with a user makes SessionManager.Login accept that user and password
	// only (with none, or simulator.DefaultLogin, it accepts any non-empty pair).
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	model.Service.RegisterEndpoints = true

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	server := model.Service.NewServer() // listening and serving once it returns
	sdk := *server.URL
	sdk.User = nil
	sdk.RawQuery = ""
	fmt.Println(sdk.String())
	os.Stdout.Sync()

	stdinEnded := make(chan struct{})
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			close(stdinEnded)
		}()
	}
	select {
	case sig := <-signals:
		log.Printf("%s: stopping", sig)
	case <-stdinEnded:
		log.Printf("standard input ended: stopping")
	}
	// No graceful shutdown: server.Close() would wait for calls held by -method-delay.
	// Connections are cut, the datastores' directories removed, and the process ends.
	server.Listener.Close()
	server.CloseClientConnections()
	model.Remove()
	os.Exit(0)
}

func parseMethodDelays(spec string) (map[string]int, error) {
	delays := map[string]int{}
	if spec == "" {
		return delays, nil
	}
	for _, item := range strings.Split(spec, ",") {
		name, ms, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(ms)
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("%q is no METHOD=MILLISECONDS", item)
		}
		delays[name] = n
	}
	return delays, nil
}

// loadOrMakeCert loads certFile and keyFile if both exist, else makes a self-signed
// certificate and writes both (each through a temporary file and a rename).
func loadOrMakeCert(certFile, keyFile string) (tls.Certificate, error) {
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	if certErr == nil && keyErr == nil {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	if !errors.Is(certErr, os.ErrNotExist) && certErr != nil {
		return tls.Certificate{}, certErr
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	skid := sha1.Sum(pub)
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"nativesnap tests"}, CommonName: "vcsim 127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid[:],
		AuthorityKeyId:        skid[:],
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
