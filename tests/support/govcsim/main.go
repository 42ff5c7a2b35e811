// Command vcsim runs govmomi's vSphere simulator for the ESXi deployer's tests.
//
// Debian ships the simulator as a library (golang-github-vmware-govmomi-dev) without
// its command; this is a small one, built offline in GOPATH mode by tests/vcsim.py.
// Besides starting the simulator it extends it where version 0.24 stops short of a
// real host (the simulator's own extension mechanism: a type embedding the
// simulator's object by value, put into its object map):
//
//   - HostNetworkSystem: UpdatePortGroup and UpdateVirtualSwitch (MethodNotFound in
//     the simulator), AddVirtualSwitch keeping its spec, and vSwitch0 given the spec
//     a real host reports (ports, MTU, a security policy all false), so that a client
//     that drops the existing spec when updating it is caught.
//   - A resource pool named "lease-error" whose imports get a lease in the error
//     state, as a host gives one when the datastore fills up or the import fails,
//     one named "upload-error" whose leases point the disk upload at a URL the host
//     answers with 404, as when a lease expires during the upload, and two ("pinned",
//     "pinned-wrong") whose upload URLs name the host with its certificate's SHA-1
//     thumbprint, as vCenter gives them for its hosts (the second one a wrong one).
//   - The VMs that exist at start ignore a guest shutdown, as a hung guest does: the
//     request is accepted and nothing happens.
//   - Hosts and datastores sized like real ones (the simulator's hosts have 2 logical
//     CPUs and 4 GB, and its datastores report the free space of the machine running
//     it): -host-cpus logical CPUs and -host-memory-gib GiB per host, -datastore-free-gib
//     free of 1 TiB on every datastore, so that a capacity check sees what a test sets.
//
// Usage: vcsim [-esx] [-l 127.0.0.1:0] [-ca-out FILE] [-host-cpus 32] [-host-memory-gib 128] [-datastore-free-gib 800]
// The login is read from VCSIM_USERNAME and VCSIM_PASSWORD (never an argument).
// The first line on standard output is the server's URL (without the login); the
// simulator runs until standard input is closed or it gets SIGTERM/SIGINT.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// NetworkSystem is the simulator's HostNetworkSystem with the updates a real host has.
type NetworkSystem struct {
	simulator.HostNetworkSystem
}

func notFound(what string) *soap.Fault {
	return simulator.Fault(what+" not found", &types.NotFound{})
}

func (s *NetworkSystem) AddVirtualSwitch(c *types.AddVirtualSwitch) soap.HasFault {
	r := &methods.AddVirtualSwitchBody{}
	for _, vswitch := range s.NetworkInfo.Vswitch {
		if vswitch.Name == c.VswitchName {
			r.Fault_ = simulator.Fault("", &types.AlreadyExists{Name: c.VswitchName})
			return r
		}
	}
	vswitch := types.HostVirtualSwitch{Name: c.VswitchName, Key: "key-vim.host.VirtualSwitch-" + c.VswitchName}
	if c.Spec != nil {
		vswitch.Spec = *c.Spec
		vswitch.NumPorts = c.Spec.NumPorts
		vswitch.Mtu = c.Spec.Mtu
	}
	s.NetworkInfo.Vswitch = append(s.NetworkInfo.Vswitch, vswitch)
	r.Res = &types.AddVirtualSwitchResponse{}
	return r
}

func (s *NetworkSystem) UpdateVirtualSwitch(c *types.UpdateVirtualSwitch) soap.HasFault {
	r := &methods.UpdateVirtualSwitchBody{}
	for i := range s.NetworkInfo.Vswitch {
		vswitch := &s.NetworkInfo.Vswitch[i]
		if vswitch.Name == c.VswitchName {
			// Like a real host, the spec replaces the whole one.
			vswitch.Spec = c.Spec
			vswitch.NumPorts = c.Spec.NumPorts
			vswitch.Mtu = c.Spec.Mtu
			r.Res = &types.UpdateVirtualSwitchResponse{}
			return r
		}
	}
	r.Fault_ = notFound("vSwitch " + c.VswitchName)
	return r
}

func (s *NetworkSystem) UpdatePortGroup(c *types.UpdatePortGroup) soap.HasFault {
	r := &methods.UpdatePortGroupBody{}
	if c.Portgrp.Name != c.PgName {
		// Renaming is allowed by vSphere; the deployer never does it.
		r.Fault_ = simulator.Fault("renaming a port group is not simulated", &types.NotSupported{})
		return r
	}
	for i := range s.NetworkInfo.Portgroup {
		pg := &s.NetworkInfo.Portgroup[i]
		if pg.Spec.Name == c.PgName {
			if pg.Spec.VswitchName != c.Portgrp.VswitchName {
				r.Fault_ = simulator.Fault("moving a port group to another vSwitch is not simulated", &types.NotSupported{})
				return r
			}
			pg.Spec = c.Portgrp
			r.Res = &types.UpdatePortGroupResponse{}
			return r
		}
	}
	r.Fault_ = notFound("port group " + c.PgName)
	return r
}

// LeaseErrorPool is a resource pool whose imports' leases are not the usual: in error, as
// on a full datastore; with upload URLs that lead nowhere; or naming the host with a
// certificate thumbprint.
type LeaseErrorPool struct {
	simulator.ResourcePool
	mode string
}

// thumbprint is the SHA-1 thumbprint of the server's certificate, as vSphere writes it.
var thumbprint string

func (p *LeaseErrorPool) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	body := p.ResourcePool.ImportVApp(ctx, req).(*methods.ImportVAppBody)
	if body.Res == nil {
		return body
	}
	lease, ok := ctx.Session.Get(body.Res.Returnval).(*simulator.HttpNfcLease)
	if !ok {
		return body
	}
	switch p.mode {
	case "upload-error":
		for i := range lease.Info.DeviceUrl {
			lease.Info.DeviceUrl[i].Url = "https://*/nfc/expired-lease/" + lease.Info.DeviceUrl[i].TargetId
		}
	case "pinned", "pinned-wrong":
		host := simulator.Map.SessionManager().ServiceHostName
		for i := range lease.Info.DeviceUrl {
			device := &lease.Info.DeviceUrl[i]
			device.Url = strings.Replace(device.Url, "https://*/", "https://"+host+"/", 1)
			device.SslThumbprint = thumbprint
			if p.mode == "pinned-wrong" {
				device.SslThumbprint = strings.Repeat("00:", 19) + "00"
			}
		}
	default:
		lease.State = types.HttpNfcLeaseStateError
		lease.Error = &types.LocalizedMethodFault{
			Fault:            &types.FileFault{File: "[LocalDS_0] " + req.Spec.(*types.VirtualMachineImportSpec).ConfigSpec.Name},
			LocalizedMessage: "Insufficient disk space on datastore 'LocalDS_0'.",
		}
	}
	return body
}

// DeafVM is a VM whose guest ignores shutdown requests.
type DeafVM struct {
	simulator.VirtualMachine
}

func (vm *DeafVM) ShutdownGuest(ctx *simulator.Context, c *types.ShutdownGuest) soap.HasFault {
	return &methods.ShutdownGuestBody{Res: new(types.ShutdownGuestResponse)}
}

// size gives every host the CPUs and memory asked for, and every datastore the free space.
func size(cpus int16, memoryGiB int64, freeGiB int64) {
	const gib = int64(1) << 30
	for _, entity := range simulator.Map.All("HostSystem") {
		host := entity.(*simulator.HostSystem)
		if host.Hardware != nil {
			hw := *host.Hardware // shared with the other hosts: each gets its own copy
			hw.CpuInfo.NumCpuThreads = cpus
			hw.CpuInfo.NumCpuCores = cpus
			hw.MemorySize = memoryGiB * gib
			host.Hardware = &hw
		}
		if host.Summary.Hardware != nil {
			summary := *host.Summary.Hardware
			summary.NumCpuThreads = cpus
			summary.NumCpuCores = cpus
			summary.MemorySize = memoryGiB * gib
			host.Summary.Hardware = &summary
		}
	}
	for _, entity := range simulator.Map.All("Datastore") {
		ds := entity.(*simulator.Datastore)
		ds.Summary.Capacity = 1024 * gib
		ds.Summary.FreeSpace = freeGiB * gib
		info := ds.Info.GetDatastoreInfo()
		info.FreeSpace = freeGiB * gib
		info.MaxFileSize = freeGiB * gib
	}
}

func extend(esx bool) {
	for _, entity := range simulator.Map.All("VirtualMachine") {
		if vm, ok := entity.(*simulator.VirtualMachine); ok {
			simulator.Map.Put(&DeafVM{*vm})
		}
	}
	var pools []*simulator.ResourcePool
	for _, entity := range simulator.Map.All("HostSystem") {
		host := entity.(*simulator.HostSystem)
		ns, ok := simulator.Map.Get(*host.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem)
		if !ok {
			continue
		}
		for i := range ns.NetworkInfo.Vswitch {
			vswitch := &ns.NetworkInfo.Vswitch[i]
			no := false
			vswitch.Key = "key-vim.host.VirtualSwitch-" + vswitch.Name
			vswitch.NumPorts = 128
			vswitch.Mtu = 1500
			vswitch.Spec = types.HostVirtualSwitchSpec{
				NumPorts: 128,
				Mtu:      1500,
				Bridge:   &types.HostVirtualSwitchBondBridge{NicDevice: []string{"vmnic0"}},
				Policy: &types.HostNetworkPolicy{
					Security: &types.HostNetworkSecurityPolicy{
						AllowPromiscuous: &no, MacChanges: &no, ForgedTransmits: &no,
					},
				},
			}
		}
		simulator.Map.Put(&NetworkSystem{*ns})
	}
	for _, entity := range simulator.Map.All("ResourcePool") {
		if pool, ok := entity.(*simulator.ResourcePool); ok && pool.Parent != nil && pool.Parent.Type != "ResourcePool" {
			pools = append(pools, pool)
		}
	}
	if !esx || len(pools) == 0 {
		return
	}
	root := pools[0]
	unlimited := int64(-1)
	alloc := types.ResourceAllocationInfo{
		Reservation: types.NewInt64(0), ExpandableReservation: types.NewBool(true), Limit: &unlimited,
		Shares: &types.SharesInfo{Level: types.SharesLevelNormal},
	}
	for _, name := range []string{"lease-error", "upload-error", "pinned", "pinned-wrong"} {
		res := root.CreateResourcePool(&types.CreateResourcePool{
			This: root.Self, Name: name,
			Spec: types.ResourceConfigSpec{CpuAllocation: alloc, MemoryAllocation: alloc},
		}).(*methods.CreateResourcePoolBody)
		if res.Res == nil {
			log.Fatalf("vcsim: creating the %s pool: %v", name, res.Fault_)
		}
		child := simulator.Map.Get(res.Res.Returnval).(*simulator.ResourcePool)
		simulator.Map.Put(&LeaseErrorPool{*child, name})
	}
}

// selfSigned makes a fresh P-256 certificate for the loopback addresses. net/http's
// built-in test certificate is RSA-1024, which OpenSSL's default security level refuses.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return cert, certPEM, err
}

func main() {
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host (default: vCenter)")
	listen := flag.String("l", "127.0.0.1:0", "address to listen on")
	caOut := flag.String("ca-out", "", "write the server's self-signed certificate (PEM, made at start) here, for clients to trust")
	cpus := flag.Int("host-cpus", 32, "logical CPUs of every host")
	memory := flag.Int64("host-memory-gib", 128, "memory of every host, GiB")
	free := flag.Int64("datastore-free-gib", 800, "free space of every datastore (of 1 TiB), GiB")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	}
	model.Machine = 1
	if err := model.Create(); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
		os.Exit(1)
	}
	extend(*esx)
	size(int16(*cpus), *memory, *free)

	model.Service.Listen = &url.URL{Host: *listen}
	if user := os.Getenv("VCSIM_USERNAME"); user != "" {
		model.Service.Listen.User = url.UserPassword(user, os.Getenv("VCSIM_PASSWORD"))
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
		os.Exit(1)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	sum := sha1.Sum(cert.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	thumbprint = strings.Join(parts, ":")
	if *caOut != "" {
		if err := ioutil.WriteFile(*caOut, certPEM, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
			os.Exit(1)
		}
	}
	log.SetOutput(ioutil.Discard) // the simulator logs every NFC transfer
	server := model.Service.NewServer()
	u := *server.URL
	u.User = nil
	fmt.Println(u.String())

	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(ioutil.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sig:
	}
	server.Close()
	model.Remove()
}
