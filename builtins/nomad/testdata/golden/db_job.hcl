job "postgres-nomad-demo" {
  namespace   = "default"
  region      = "global"
  type        = "service"
  datacenters = ["dc1"]

  group "db" {
    count = 1

    network {
      port "db" {
        static = 5432
        to     = 5432
      }
    }

    task "server" {
      driver = "docker"

      config {
        image = "hashicorp/postgres-nomad-demo:latest"
        ports = ["db"]
      }

      service {
        name = "database"
        port = "db"

        check {
          type     = "tcp"
          interval = "2s"
          timeout  = "2s"
        }
      }
    }
  }
}
