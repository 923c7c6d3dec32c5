"""Data-subject requests (issue 19): intake, lifecycle, deadlines, erasure and restriction on demand."""
