ipe-run insight anomalies-count 89.160.20.128 --offline
