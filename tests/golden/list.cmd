ipe-run list -f csv
