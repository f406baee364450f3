"""Pipeline wiring, config, runners and the `tiedflow` command line."""
