ipe-run insight security-info 89.160.20.128 --offline
