//go:build llamette_system

package llamette

// With -tags llamette_system: an installed llamette (make install PREFIX=...), found through
// pkg-config (set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig). The installed llamette.pc's Libs
// carry -rpath PREFIX/lib, so the program finds libllamette.so at run time without
// LD_LIBRARY_PATH.

/*
#cgo pkg-config: llamette
*/
import "C"
