"""Declarative corpus definitions (one TOML per corpus) and the fixture corpora the project writes."""
