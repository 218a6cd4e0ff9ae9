/* fuzz_jsonl.c — libFuzzer target: tests/fuzz/driver.lua's jsonl on each input. */
#include "fuzz.h"

IPE_FUZZ_TARGET("jsonl")
