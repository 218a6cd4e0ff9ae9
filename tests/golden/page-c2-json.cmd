ipe-run page 89.160.20.128 --offline -f json
