ipe-run enrich tests/golden/input/ips.txt
