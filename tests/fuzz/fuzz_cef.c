/* fuzz_cef.c — libFuzzer target: tests/fuzz/driver.lua's cef on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("cef")
