ipe-run help hunt subnet-sweep
