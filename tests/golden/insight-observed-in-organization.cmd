ipe-run insight observed-in-organization 151.101.1.140 --offline
