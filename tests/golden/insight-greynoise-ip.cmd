ipe-run insight greynoise-ip 89.160.20.128 --offline
