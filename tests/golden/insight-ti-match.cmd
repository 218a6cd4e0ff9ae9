ipe-run insight ti-match 89.160.20.128 --offline
