ipe-run insight incidents-and-alerts 89.160.20.128 --offline
