"""The registry shell: talks the OCI distribution protocol over httpx."""
