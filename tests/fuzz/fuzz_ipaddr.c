/* fuzz_ipaddr.c — libFuzzer target: tests/fuzz/driver.lua's ipaddr on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("ipaddr")
