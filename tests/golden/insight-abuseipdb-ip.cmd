ipe-run insight abuseipdb-ip 216.160.83.56 --offline
