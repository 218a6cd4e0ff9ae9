ipe-run hunt signins-from-ip --ip 216.160.83.56
