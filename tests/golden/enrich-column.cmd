ipe-run enrich tests/golden/input/hosts.csv --column IP -f csv
