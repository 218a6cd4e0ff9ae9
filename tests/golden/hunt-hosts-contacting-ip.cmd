ipe-run hunt hosts-contacting-ip --ip 89.160.20.128
