ipe-run help action add-indicator
