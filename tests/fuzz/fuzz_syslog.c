/* fuzz_syslog.c — libFuzzer target: tests/fuzz/driver.lua's syslog on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("syslog")
