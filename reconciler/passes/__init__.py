"""The reconcile pass: the one layer that knows both the pure core and the shells, and
joins them as numbered steps."""
