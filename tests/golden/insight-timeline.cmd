ipe-run insight timeline 89.160.20.128 --offline
