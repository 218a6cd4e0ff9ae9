ipe-run insight recorded-future-ip 89.160.20.128 --offline
