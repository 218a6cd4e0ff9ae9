ipe-run insight incidents-by-severity 89.160.20.128 --offline
