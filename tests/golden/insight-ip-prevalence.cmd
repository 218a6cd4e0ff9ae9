ipe-run insight ip-prevalence 151.101.1.140 --offline
