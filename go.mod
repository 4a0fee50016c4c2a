module mdcluster.dev

go 1.26
