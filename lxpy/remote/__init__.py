"""Other hosts' lxpy, reached over SSH: the remotes a root knows (registry), the interface
both ends speak (protocol), one multiplexed OpenSSH connection per host (connection)."""
