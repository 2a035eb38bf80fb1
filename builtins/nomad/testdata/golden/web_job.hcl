job "nomad-vault-demo" {
  namespace   = "default"
  region      = "global"
  type        = "service"
  datacenters = ["dc1"]

  group "demo" {
    count = 1

    network {
      port "http" {
        to = 8080
      }
    }

    task "server" {
      driver = "docker"

      config {
        image   = "hashicorp/nomad-vault-demo:latest"
        ports   = ["http"]
        volumes = ["secrets/config.json:/etc/demo/config.json"]
      }

      vault {
        policies = ["access-tables"]
      }

      template {
        destination = "secrets/config.json"
        data = <<EOF
{{ with secret "database/creds/accessdb" }}
{
    "host": "database.service.consul",
    "port": 5432,
    "username": "{{ .Data.username }}",
    {{- /* Ensure password is a properly escaped JSON string. */}}
    "password": {{ .Data.password | toJSON }},
    "db": "postgres"
}
{{ end }}
        EOF
      }

      service {
        name = "nomad-vault-demo"
        port = "http"
        tags = ["urlprefix-/"]

        check {
          type     = "tcp"
          interval = "2s"
          timeout  = "2s"
        }
      }
    }
  }
}
