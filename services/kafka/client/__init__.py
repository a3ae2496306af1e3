"""How releasewatch's own clients connect and read: security options, tuning, the broker's
quirks, readers outside faust, the hole probe."""
