//go:build llamette_system

package llamette

// With -tags llamette_system: an installed llamette (make install PREFIX=...), found through
// pkg-config (set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig, and LD_LIBRARY_PATH or an rpath so
// the program finds libllamette.so at run time).

/*
#cgo pkg-config: llamette
*/
import "C"
