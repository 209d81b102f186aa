"""The files shell: reads and writes the work tree (manifest files, the lockfile, trigger
record files, the schema files). It never talks to git or a registry."""
