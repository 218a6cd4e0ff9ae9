ipe-run insight remote-connections-ti-match 89.160.20.128 --offline
