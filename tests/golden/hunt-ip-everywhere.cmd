ipe-run hunt ip-everywhere --ip 89.160.20.128
