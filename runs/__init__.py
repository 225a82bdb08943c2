"""absl command lines: parse flags -> build a config -> call the library."""
