ipe-run insight watchlist-insights 216.160.83.56 --offline
