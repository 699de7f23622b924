"""The dialer daemon: leasing, calls through ARI, settlement, recovery, supervision, pacing."""
