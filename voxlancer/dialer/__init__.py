"""The dialer daemon: leasing, ARI client, call state machine, pacing."""
