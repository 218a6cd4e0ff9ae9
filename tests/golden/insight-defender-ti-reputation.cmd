ipe-run insight defender-ti-reputation 89.160.20.128 --offline
