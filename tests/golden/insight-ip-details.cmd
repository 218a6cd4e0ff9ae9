ipe-run insight ip-details 216.160.83.56 --offline
