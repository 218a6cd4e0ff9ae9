ipe-run insight logged-hosts 10.0.1.20 --offline
