"""Evidence storage: the pre-roll ring of encoded packets, the clip writer (remux, no re-encode),
snapshots, the crash-safe clip index and retention."""
