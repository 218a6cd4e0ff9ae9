ipe-run enrich - -f csv < tests/golden/input/ips.txt
