ipe-run insight remote-connections 45.33.32.156 --offline
