ipe-run --help
