"""Client-side security controls: lockout, idle lock, session cap, crypto-wipe, TLS, audit upload.

One module per control; docs/security.md maps each CJIS control to the function that does it.
"""
