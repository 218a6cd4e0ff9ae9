ipe-run page 216.160.83.56 --offline
