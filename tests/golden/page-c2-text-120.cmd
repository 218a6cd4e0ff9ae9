COLUMNS=120 ipe-run page 89.160.20.128 --offline
