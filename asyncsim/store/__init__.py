"""Results as data on disk: run and sweep directories, their tables and index, and what they record
of plug-ins."""
