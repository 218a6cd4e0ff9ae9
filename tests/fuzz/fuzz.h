/* tests/fuzz/fuzz.h — the one helper every fuzz target shares (fuzz_common.c). */
#ifndef IPE_FUZZ_H
#define IPE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* ipe_fuzz_one(target, data, size): runs tests/fuzz/driver.lua's target on the
 * bytes in the runtime's Lua state (made once, as core/engine.c makes it);
 * aborts on an internal error so that libFuzzer reports it. Returns 0. */
int ipe_fuzz_one(const char *target, const uint8_t *data, size_t size);

#define IPE_FUZZ_TARGET(name)                                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)           \
    {                                                                      \
        return ipe_fuzz_one(name, data, size);                             \
    }

#endif
