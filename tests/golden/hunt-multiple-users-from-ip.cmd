ipe-run hunt multiple-users-from-ip --ip 216.160.83.56
