// cnitool drives CNI plugins through libcni, the library containerd and CRI-O use, so tests
// call our plugin exactly as a container runtime does (config loading, version handling,
// result caching, prevResult for CHECK and DEL).
//
// Usage: cnitool add|check|del CONFLIST NETNS CONTAINER-ID [IFNAME]
// Environment: CNI_PATH (plugin directories), CNITOOL_CACHE_DIR, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID,
// CNITOOL_CAPABILITY_ARGS (a JSON object: the runtimeConfig a runtime passes, e.g. portMappings, bandwidth).
// Prints ADD's result as JSON on stdout; on failure prints the error on stderr and exits 1
// (the CNI error code, when there is one, as "code N: message").
//
// Built by scripts/build-cnitool from Debian's golang-github-appc-cni-dev (GO111MODULE=off).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: cnitool add|check|del CONFLIST NETNS CONTAINER-ID [IFNAME]")
		os.Exit(2)
	}
	command, conflist, netns, containerID := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	ifname := "eth0"
	if len(os.Args) > 5 {
		ifname = os.Args[5]
	}
	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		fail(err)
	}
	cacheDir := os.Getenv("CNITOOL_CACHE_DIR")
	if cacheDir == "" {
		cacheDir = filepath.Join(os.TempDir(), "cnitool-cache")
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), cacheDir, nil)
	rt := &libcni.RuntimeConf{
		ContainerID: containerID,
		NetNS:       netns,
		IfName:      ifname,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", os.Getenv("K8S_POD_NAMESPACE")},
			{"K8S_POD_NAME", os.Getenv("K8S_POD_NAME")},
			{"K8S_POD_INFRA_CONTAINER_ID", containerID},
			{"K8S_POD_UID", os.Getenv("K8S_POD_UID")},
		},
	}
	if text := os.Getenv("CNITOOL_CAPABILITY_ARGS"); text != "" {
		if err := json.Unmarshal([]byte(text), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("CNITOOL_CAPABILITY_ARGS: %v", err))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch command {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		out, _ := json.Marshal(result)
		fmt.Println(string(out))
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown command %q", command))
	}
}

func fail(err error) {
	if cniErr, ok := err.(*types.Error); ok {
		fmt.Fprintf(os.Stderr, "code %d: %s\n", cniErr.Code, strings.TrimSpace(cniErr.Msg+" "+cniErr.Details))
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}
