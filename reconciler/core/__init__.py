"""The pure core: data in, data out. Nothing here may touch the network, git, the
filesystem, ``os.environ`` or the clock (callers pass ``now``)."""
