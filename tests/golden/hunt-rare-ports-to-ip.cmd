ipe-run hunt rare-ports-to-ip --ip 45.33.32.156
