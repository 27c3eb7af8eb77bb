// Command etcd is the etcd server built from its Go module, so that TMC's local
// physical clusters need no downloaded release archive.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
