ipe-run help insight remote-connections
