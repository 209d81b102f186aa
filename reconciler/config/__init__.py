"""The configuration shell: flags, environment and files merged into one frozen
Settings object that the rest of the program is given."""
