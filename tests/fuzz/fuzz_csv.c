/* fuzz_csv.c — libFuzzer target: tests/fuzz/driver.lua's csv on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("csv")
