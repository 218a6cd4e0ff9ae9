ipe-run insight log-activity 10.0.1.20 --offline
