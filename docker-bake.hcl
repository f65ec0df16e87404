# Every Atelier image, built from the repository root with deploy/docker/Dockerfile:
#   docker buildx bake                      # all of them, tagged atelier/<name>:latest
#   REGISTRY=registry.example.com/atelier TAG=0.1.0 docker buildx bake --push
#   docker buildx bake gateway              # one of them

variable "REGISTRY" {
  default = "atelier"
}

variable "TAG" {
  default = "latest"
}

group "default" {
  targets = ["images"]
}

# One row per image: its name (the Dockerfile target and the image name) and PACKAGES,
# the repo packages it installs: its own and every repo package it needs
# (tests/deploy/test_dockerfiles.py checks both).
target "images" {
  matrix = {
    image = [
      { name = "gateway", packages = "libs/contracts libs/runtime services/gateway" },
      { name = "library", packages = "libs/contracts libs/runtime services/library" },
      { name = "workspace", packages = "libs/contracts libs/runtime services/workspace" },
      { name = "scheduler", packages = "libs/contracts libs/runtime services/scheduler" },
      { name = "webhooks", packages = "libs/contracts libs/runtime services/webhooks" },
      { name = "gpu-sdxl", packages = "libs/contracts libs/runtime libs/inference services/gpu-sdxl" },
      { name = "gpu-wan", packages = "libs/contracts libs/runtime libs/inference services/gpu-wan" },
      { name = "ops", packages = "libs/contracts libs/runtime libs/inference libs/stack services/workspace services/library services/scheduler services/webhooks apps/platform" },
    ]
  }
  name       = image.name
  context    = "."
  dockerfile = "deploy/docker/Dockerfile"
  target     = image.name
  args       = { PACKAGES = image.packages }
  tags       = ["${REGISTRY}/${image.name}:${TAG}"]
}
