/* fuzz_stix_pattern.c — libFuzzer target: tests/fuzz/driver.lua's stix_pattern on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("stix_pattern")
