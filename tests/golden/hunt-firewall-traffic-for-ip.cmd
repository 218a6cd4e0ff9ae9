ipe-run hunt firewall-traffic-for-ip --ip 45.33.32.156
