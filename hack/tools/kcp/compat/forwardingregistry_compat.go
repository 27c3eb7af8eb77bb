//go:build ignore

// This file is not compiled in place: hack/build-binaries adds it, through `go build -overlay`, to package
// forwardingregistry of github.com/kcp-dev/virtual-workspace-framework v0.31.2.
//
// kcp v0.32.3 expects virtual-workspace-framework v0.32.x, which the Go module proxy does not serve; v0.31.2
// differs only in not exporting this name, which v0.31.2 itself passes to the same constructor.
package forwardingregistry

import "k8s.io/apimachinery/pkg/api/validation/path"

var ValidatePathSegmentName = path.ValidatePathSegmentName
