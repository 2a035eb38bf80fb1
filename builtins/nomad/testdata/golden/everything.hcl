job "all" {
  type        = "service"
  datacenters = ["dc1", "dc2"]
  priority    = 60

  meta {
    team       = "db"
    "with.dot" = "x"
  }

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    auto_revert      = true
  }

  group "g" {
    count          = 2
    shutdown_delay = "5s"

    network {
      port "admin" {
        to = 9000
      }
      port "db" {
        static = 5432
      }
      port "http" {}
    }

    service {
      name = "g-svc"
      port = "http"

      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }

    restart {
      attempts = 2
      delay    = "15s"
      mode     = "delay"
    }

    task "t" {
      driver       = "docker"
      user         = "app"
      kill_timeout = "30s"

      config {
        args  = ["-v", "1"]
        image = "x:1"

        auth {
          server_address = "reg"
        }

        port_map {
          db = 5432
        }
      }

      env {
        PGPORT = "5432"
      }

      vault {
        policies    = ["a", "b"]
        change_mode = "noop"
      }

      template {
        destination = "local/a"
        data        = "single line"
      }

      template {
        source      = "local/in.tpl"
        destination = "local/b"
        perms       = "0640"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
