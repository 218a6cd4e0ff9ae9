ipe-run insight network-traffic-inspection 45.33.32.156 --offline
