terraform {
  # No provider: the module only renders data.
  required_version = ">= 1.6"
}
