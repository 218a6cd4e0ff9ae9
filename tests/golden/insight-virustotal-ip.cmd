ipe-run insight virustotal-ip 89.160.20.128 --offline
