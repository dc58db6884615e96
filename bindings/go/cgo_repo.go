//go:build !llamette_system

package llamette

// Default: the header and the shared library of this repository's checkout
// (cargo build --release --features ffi puts libllamette.so in target/release). The rpath
// lets test binaries and programs find it without LD_LIBRARY_PATH.
//
// Build with -tags llamette_system to use an installed llamette through pkg-config instead
// (make install PREFIX=...; see cgo_system.go), or add your own flags with CGO_CFLAGS and
// CGO_LDFLAGS.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lllamette -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
