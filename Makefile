# C side of llamette: the library, the C examples, the C tests, and installation with pkg-config.
#
#   make lib                    cargo build --release --features ffi (also regenerates
#                               include/llamette.h through build.rs)
#   make examples               examples/c/chat (static) and examples/c/chat-shared (cdylib)
#   make test-c                 tests/c/run.sh: C tests under valgrind, the chat example, install
#   make install PREFIX=/opt/x  include/llamette.h, libllamette.a, libllamette.so, llamette.pc
#                               (whose Libs carry -rpath ${libdir}: no LD_LIBRARY_PATH needed)
#
# Honours CARGO_TARGET_DIR like cargo does; CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR as usual.

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
PREFIX ?= /usr/local
DESTDIR ?=
CFLAGS ?= -std=c11 -O2 -g -Wall -Wextra -Wpedantic

# The Rust standard library's own needs when linking the staticlib (glibc).
NATIVE_LIBS := -lpthread -ldl -lm
LIBDIR := $(abspath $(CARGO_TARGET_DIR))/release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
PC_PREFIX := $(abspath $(PREFIX))
# llamette.pc's Libs. The run path (-rpath ${libdir}) lets a program built with
# `cc $(pkg-config --cflags --libs llamette) prog.c` find libllamette.so at run time without
# LD_LIBRARY_PATH, wherever PREFIX is. On Linux the library is kept even where the toolchain
# links with --as-needed (Debian's and Ubuntu's gcc do) and the flags come before the sources,
# as in that command line.
ifeq ($(shell uname -s),Linux)
PC_LIBS := -L$${libdir} -Wl,-rpath,$${libdir} -Wl,--push-state,--no-as-needed -lllamette -Wl,--pop-state
else
PC_LIBS := -L$${libdir} -Wl,-rpath,$${libdir} -lllamette
endif
export CARGO_TARGET_DIR

.PHONY: all lib examples test-c install uninstall clean-c

all: lib examples

lib:
	$(CARGO) build --release --features ffi

examples: lib
	$(CC) $(CFLAGS) -Iinclude -Iexamples/c examples/c/chat.c \
	  $(LIBDIR)/libllamette.a $(NATIVE_LIBS) $(LDFLAGS) -o examples/c/chat
	$(CC) $(CFLAGS) -Iinclude -Iexamples/c examples/c/chat.c \
	  -L$(LIBDIR) -lllamette -Wl,-rpath,$(LIBDIR) $(NATIVE_LIBS) $(LDFLAGS) -o examples/c/chat-shared

test-c:
	bash tests/c/run.sh

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/llamette.h $(DESTDIR)$(PREFIX)/include/llamette.h
	install -m 644 $(LIBDIR)/libllamette.a $(DESTDIR)$(PREFIX)/lib/libllamette.a
	install -m 755 $(LIBDIR)/libllamette.so $(DESTDIR)$(PREFIX)/lib/libllamette.so
	printf '%s\n' \
	  'prefix=$(PC_PREFIX)' \
	  'includedir=$${prefix}/include' \
	  'libdir=$${prefix}/lib' \
	  '' \
	  'Name: llamette' \
	  'Description: Run GGUF language models inside other programs (C ABI)' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' \
	  'Libs: $(PC_LIBS)' \
	  'Libs.private: $(NATIVE_LIBS)' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/llamette.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/llamette.h $(DESTDIR)$(PREFIX)/lib/libllamette.a \
	  $(DESTDIR)$(PREFIX)/lib/libllamette.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/llamette.pc

clean-c:
	rm -f examples/c/chat examples/c/chat-shared
