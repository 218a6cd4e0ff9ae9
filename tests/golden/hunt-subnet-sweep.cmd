ipe-run hunt subnet-sweep -p cidr=10.0.1.0/24
