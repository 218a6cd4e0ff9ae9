ipe-run hunt ti-matches-in-traffic
