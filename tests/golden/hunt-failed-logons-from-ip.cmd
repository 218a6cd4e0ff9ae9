ipe-run hunt failed-logons-from-ip --ip 45.33.32.156
