/*
 * CLlamette: the header of the CLlamette Clang module (module.modulemap beside it).
 *
 * It includes the repository's generated C header by a relative path (this file lives in
 * bindings/swift/Sources/CLlamette/), so the Swift package never carries a copy that could
 * drift from include/llamette.h. The package is therefore used from a checkout of the whole
 * repository (a local path dependency), which is how SwiftPM reaches a package that is not
 * at a repository's root anyway.
 *
 * Besides the C API it adds two tiny inline helpers that Swift cannot write itself without
 * the Synchronization module or a package: an atomic store and load of the abort flag that
 * llamette_generate reads with a relaxed atomic load from another thread
 * (LlametteGenerateParams.abort_flag).
 */
#ifndef CLLAMETTE_H
#define CLLAMETTE_H

#include "../../../../include/llamette.h"

#include <stdint.h>

/* Stores `value` to the abort flag with sequential consistency (a C11 atomic store). */
static inline void cllamette_abort_flag_store(uint32_t *flag, uint32_t value) {
  __atomic_store_n(flag, value, __ATOMIC_SEQ_CST);
}

/* Loads the abort flag atomically. */
static inline uint32_t cllamette_abort_flag_load(const uint32_t *flag) {
  return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

#endif /* CLLAMETTE_H */
