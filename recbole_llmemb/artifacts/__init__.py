"""The pipeline's files on disk: atomic writes, locks, records, content keys, checkpoint keys and safe reading."""
