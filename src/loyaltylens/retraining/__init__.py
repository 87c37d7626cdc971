"""The retraining loop's library side: what the retraining pipeline's steps call (:mod:`.loop`)."""
