"""Building root filesystems: templates, bootstrap methods, create."""
