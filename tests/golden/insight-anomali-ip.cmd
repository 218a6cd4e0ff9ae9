ipe-run insight anomali-ip 89.160.20.128 --offline
