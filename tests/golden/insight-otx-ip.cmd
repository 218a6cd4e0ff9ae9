ipe-run insight otx-ip 89.160.20.128 --offline
