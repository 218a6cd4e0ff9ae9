ipe-run hunt beaconing-to-ip --ip 89.160.20.128
