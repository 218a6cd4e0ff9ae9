ipe-run hunt new-ips-first-seen
