"""The exit statuses of `seq2seq`, which scripts and schedulers can tell apart (docs/guides/run-directory.md)."""

OK = 0
TRAINING_FAILED = 1  # training cannot go on (a non-finite loss); the last checkpoint is intact
REFUSED = 2  # a bad value, file, input or run directory, refused before (or instead of) any work
WRITE_REFUSED = 3  # the OS refused a write (disk full, file too large, permission, read-only); nothing half-written
RUN_LOCKED = 4  # another trainer holds the run directory
DAMAGED = 5  # a checkpoint file differs from the SHA-256 recorded when it was written
SIGNALLED = 128  # plus the signal's number: stopped by Ctrl-C (130) or SIGTERM (143) after a checkpoint
